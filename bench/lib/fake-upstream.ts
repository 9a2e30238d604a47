// The fake OpenAI upstream of the tests (test/fakes), alone in its own process for the LLM bench.
// Prints `URL <baseUrl>` once listening; stops on SIGTERM.
import { startFakeOpenAI } from '../../test/fakes/index.js';

const fake = await startFakeOpenAI({ apiKey: 'sk-bench', logLimit: 1 });
process.stdout.write(`URL ${fake.url}\n`);
const stop = () => void fake.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
