// agents/image_processor.ts
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, job, type JobInfo } from 'openclaw-runtime';

interface ImageJob {
  id: string;
  width: number;
  height: number;
}

/** A synthetic RGB image (offline stand-in for the uploaded file): a gradient. */
function render(width: number, height: number): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      px[i] = (x * 255) / width;
      px[i + 1] = (y * 255) / height;
      px[i + 2] = ((x + y) * 127) / (width + height);
    }
  }
  return px;
}

/** Box-filter downscale so the longer side is `size`. */
function thumbnail(src: Uint8Array, width: number, height: number, size: number): { width: number; height: number; checksum: number } {
  const scale = Math.max(width, height) / size;
  const w = Math.max(1, Math.round(width / scale));
  const h = Math.max(1, Math.round(height / scale));
  let checksum = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        let n = 0;
        for (let sy = Math.floor(y * scale); sy < Math.min(height, Math.floor((y + 1) * scale)); sy++) {
          for (let sx = Math.floor(x * scale); sx < Math.min(width, Math.floor((x + 1) * scale)); sx++) {
            sum += src[(sy * width + sx) * 3 + c]!;
            n++;
          }
        }
        checksum = (checksum * 31 + Math.round(sum / Math.max(1, n))) >>> 0;
      }
    }
  }
  return { width: w, height: h, checksum };
}

/** Resizes uploads into thumbnails and imports the product catalog, page by page. */
export default class ImageProcessor extends Agent {
  /** Concurrency and retries are tuned in openclaw.yaml (jobs.queues.process-image wins over these). */
  @job('process-image', { concurrency: 2, timeout: '1m' })
  async processImage(img: ImageJob, info: JobInfo): Promise<{ thumbnails: Array<{ width: number; height: number }> }> {
    const sizes = (this.config.thumbnail_sizes as number[] | undefined) ?? [64];
    const pixels = render(img.width, img.height);
    const thumbnails = [];
    for (const size of sizes) {
      if (this.signal.aborted) throw new Error('cancelled (timeout or shutdown)');
      thumbnails.push(thumbnail(pixels, img.width, img.height, size));
    }
    // Recorded in the same transaction as the job's completion: exactly once per image.
    await this.state.set(`image:${img.id}`, { thumbnails, attempt: info.attempt, at: this.nowIso() });
    this.metrics.counter('images_processed_total');
    this.logger.info(`processed ${img.id} (${img.width}x${img.height}) into ${thumbnails.length} thumbnails`);
    return { thumbnails: thumbnails.map(({ width, height }) => ({ width, height })) };
  }

  /** Throttled by jobs.queues.import-catalog.rate_limit; fans out one process-image job per product. */
  @job('import-catalog')
  async importCatalog(payload: { page: number }): Promise<{ imported: number }> {
    // catalog_file is relative to the project (this file's parent directory).
    const project = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
    const file = path.resolve(project, String(this.config.catalog_file ?? 'catalog/products.json'));
    const catalog = JSON.parse(await readFile(file, 'utf8')) as { pages: Array<Array<{ sku: string; width: number; height: number }>> };
    const items = catalog.pages[payload.page] ?? [];
    // Enqueued in this job's transaction: if the import fails, none of its images are queued.
    await this.jobs.enqueueBatch(items.map((p) => ({ name: 'process-image', payload: { id: p.sku, width: p.width, height: p.height }, opts: { key: `upload:${p.sku}` } })));
    await this.state.set(`import:page:${payload.page}`, items.map((p) => p.sku));
    return { imported: items.length };
  }
}
