// Top-level sections interpreted by subsystems (llm, security, workflows, jobs, defaults). Each
// subsystem owns the zod schema of its section (in its own directory) and lists it here; the loader
// validates the section with it, reports issues with file:line like every other key, and puts the
// parsed value on ProjectConfig.extensions[name]. A section without a schema is kept raw.
import type { z } from 'zod';
import type { EXTENSION_SECTIONS } from './schema.js';
import { securitySchema } from '../security/config.js';
import { llmConfigSchema } from '../llm/config.js';
import { workflowsSectionSchema } from '../workflows/config.js';
import { jobsSectionSchema } from '../jobs/config.js';
import { streamsSectionSchema } from '../streams/config.js';
import { clusterSectionSchema } from '../cluster/config.js';

export type ExtensionSection = (typeof EXTENSION_SECTIONS)[number];

/** section name → the schema that validates and normalises it. Add one line per subsystem. */
export const sectionSchemas: Partial<Record<ExtensionSection, z.ZodTypeAny>> = {
  security: securitySchema,
  llm: llmConfigSchema,
  jobs: jobsSectionSchema,
  workflows: workflowsSectionSchema,
  streams: streamsSectionSchema,
  cluster: clusterSectionSchema,
};
