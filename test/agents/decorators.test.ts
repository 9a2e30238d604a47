import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { Agent, Schedule, on, type AgentEvent } from '../../src/index.js';
import { AgentDefinitionError, describeAgentClass, findAgentClass, isAgentClass } from '../../src/agents/describe.js';
import { HANDLER_RECORDS, METADATA } from '../../src/agents/decorators.js';
import { importWithSdk } from './helpers/sdk-import.js';

function projectDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'openclaw-decorators-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  return dir;
}

const AGENT_SOURCE = `
import { Agent, on } from 'openclaw';
export default class Analyzer extends Agent {
  @on('data_collected')
  async analyze(event: any) { return event; }

  @on('data_collected')
  @on('data_corrected')
  async audit(event: any) { return event; }
}
`;

const EXPECTED_HANDLERS = [
  { event: 'data_collected', method: 'analyze' },
  { event: 'data_collected', method: 'audit' },
  { event: 'data_corrected', method: 'audit' },
];

describe('@on with TC39 standard decorators', () => {
  it('records handlers readable from the class without constructing it', () => {
    let constructed = 0;
    class Analyzer extends Agent {
      constructor() {
        super();
        constructed++;
      }
      @on('data_collected')
      async analyze(_event: AgentEvent) {}
    }
    const d = describeAgentClass(Analyzer);
    expect(d).toEqual({ className: 'Analyzer', schedule: null, handlers: [{ event: 'data_collected', method: 'analyze' }], hasLiveness: false, hasReadiness: false });
    expect(constructed).toBe(0);
    // The standard path: the record lives in the class's Symbol.metadata object.
    expect(Object.prototype.hasOwnProperty.call(Analyzer, METADATA)).toBe(true);
    expect(Object.prototype.hasOwnProperty.call(Analyzer, HANDLER_RECORDS)).toBe(false);
  });

  it('supports stacking and several methods per event (esbuild via tsx)', async () => {
    const dir = projectDir();
    writeFileSync(path.join(dir, 'analyzer.ts'), AGENT_SOURCE);
    const mod = await importWithSdk(path.join(dir, 'analyzer.ts'));
    const d = describeAgentClass(mod.default);
    expect(sortHandlers(d.handlers)).toEqual(EXPECTED_HANDLERS);
    expect(Object.prototype.hasOwnProperty.call(mod.default, METADATA)).toBe(true);
  });

  it('works with code emitted by the TypeScript compiler (tsc)', async () => {
    const dir = projectDir();
    const out = ts.transpileModule(AGENT_SOURCE, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    expect(out).toContain('__esDecorate'); // really the standard-decorator emit
    writeFileSync(path.join(dir, 'analyzer.mjs'), out);
    const mod = await importWithSdk(path.join(dir, 'analyzer.mjs'));
    expect(sortHandlers(describeAgentClass(mod.default).handlers)).toEqual(EXPECTED_HANDLERS);
  });

  it('falls back to tagging the method when the compiler provides no metadata object', () => {
    class Tagged extends Agent {
      handle() {}
    }
    on('ping')(Tagged.prototype.handle, { kind: 'method', name: 'handle', static: false, private: false, metadata: undefined } as never);
    expect(describeAgentClass(Tagged).handlers).toEqual([{ event: 'ping', method: 'handle' }]);
  });
});

describe('@on with legacy experimentalDecorators', () => {
  it('records handlers on the class constructor', async () => {
    const dir = projectDir();
    writeFileSync(path.join(dir, 'analyzer.ts'), AGENT_SOURCE);
    const mod = await importWithSdk(path.join(dir, 'analyzer.ts'), { experimentalDecorators: true });
    expect(sortHandlers(describeAgentClass(mod.default).handlers)).toEqual(EXPECTED_HANDLERS);
    // The legacy path: no metadata object, the record is on the class itself.
    expect(Object.prototype.hasOwnProperty.call(mod.default, METADATA)).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(mod.default, HANDLER_RECORDS)).toBe(true);
  });

  it('reports @on on a property, accessor and static method', async () => {
    const dir = projectDir();
    writeFileSync(
      path.join(dir, 'bad.ts'),
      `import { Agent, on } from 'openclaw';
       export default class Bad extends Agent {
         @on('a') threshold = 3;
         @on('b') get level() { return 1; }
         @on('c') static handleStatic() {}
       }`,
    );
    const mod = await importWithSdk(path.join(dir, 'bad.ts'), { experimentalDecorators: true });
    const err = catchError(() => describeAgentClass(mod.default));
    expect(err.message).toContain("@on('a') is on the field 'threshold'");
    expect(err.message).toContain("@on('b') is on the accessor 'level'");
    expect(err.message).toContain("@on('c') is on the static method 'handleStatic'");
    expect(err.message).toMatch(/^agent class Bad:/);
  });
});

describe('static handlers (no decorators)', () => {
  it('maps events to one or several method names', () => {
    class Reporter extends Agent {
      static handlers = { analysis_complete: 'report', report_ready: ['archive', 'report'] };
      async report() {}
      async archive() {}
    }
    expect(describeAgentClass(Reporter).handlers).toEqual([
      { event: 'analysis_complete', method: 'report' },
      { event: 'report_ready', method: 'archive' },
      { event: 'report_ready', method: 'report' },
    ]);
  });

  it('names a handlers entry whose method does not exist', () => {
    class Reporter extends Agent {
      static handlers = { analysis_complete: 'reprot' };
      async report() {}
    }
    const err = catchError(() => describeAgentClass(Reporter));
    expect(err).toBeInstanceOf(AgentDefinitionError);
    expect(err.message).toBe("agent class Reporter: static handlers of Reporter: 'analysis_complete' → 'reprot': Reporter has no method 'reprot'");
  });

  it('rejects a handlers value that is not a map, and non-method targets', () => {
    class A extends Agent {
      static handlers = ['x'] as never;
    }
    expect(() => describeAgentClass(A)).toThrow(/static handlers of A must map event names to method names/);
    class B extends Agent {
      static handlers = { tick: 'count', tock: 'run' };
      count = 0;
    }
    const err = catchError(() => describeAgentClass(B));
    expect(err.message).toContain("'tick' → 'count': B has no method 'count'");
    expect(err.message).toContain("'run' is a lifecycle method of Agent");
  });
});

describe('inheritance', () => {
  class BaseMonitor extends Agent {
    static schedule = Schedule.every({ minutes: 5 });
    @on('config_changed')
    async reload(_e: AgentEvent) {}
    override liveness() {
      return true;
    }
  }

  it('a subclass inherits its parent\'s handlers, schedule and probes, and adds its own', () => {
    class HttpMonitor extends BaseMonitor {
      static handlers = { target_added: 'addTarget' };
      @on('check_now')
      async checkNow() {}
      async addTarget() {}
    }
    const d = describeAgentClass(HttpMonitor);
    expect(d.handlers).toEqual([
      { event: 'config_changed', method: 'reload' },
      { event: 'check_now', method: 'checkNow' },
      { event: 'target_added', method: 'addTarget' },
    ]);
    expect(d.schedule).toEqual({ kind: 'every', everyMs: 300_000 });
    expect(d.hasLiveness).toBe(true);
    expect(d.hasReadiness).toBe(false);
    // The parent's description is unaffected by the child's handlers.
    expect(describeAgentClass(BaseMonitor).handlers).toEqual([{ event: 'config_changed', method: 'reload' }]);
  });

  it('an override without @on keeps handling the parent\'s event', () => {
    class Custom extends BaseMonitor {
      override async reload() {}
    }
    expect(describeAgentClass(Custom).handlers).toEqual([{ event: 'config_changed', method: 'reload' }]);
  });
});

describe('describeAgentClass errors', () => {
  it('reports @on on a field, getter, static and private method (standard decorators), all at once', () => {
    class Bad extends Agent {
      // @ts-expect-error -- not a method
      @on('a') threshold = 3;
      // @ts-expect-error -- not a method
      @on('b') get level() {
        return 1;
      }
      @on('c') static handleStatic() {}
      @on('d') #secret() {}
    }
    const err = catchError(() => describeAgentClass(Bad)) as AgentDefinitionError;
    expect(err.code).toBe('agent_invalid');
    expect(err.problems).toEqual(
      expect.arrayContaining([
        "@on('a') is on the field 'threshold'; it must decorate an instance method",
        "@on('b') is on the getter 'level'; it must decorate an instance method",
        "@on('c') is on the static method 'handleStatic'; it must decorate an instance method",
        expect.stringContaining("@on('d') is on the private method '#secret'"),
      ]),
    );
    expect(err.problems).toHaveLength(4);
  });

  it('needs an event name', () => {
    expect(() => on('')).toThrow(/@on\(\) needs an event name/);
  });

  it('rejects classes that do not extend Agent, and Agent itself', () => {
    class NotAnAgent {}
    expect(() => describeAgentClass(NotAnAgent)).toThrow(/class NotAnAgent does not extend Agent/);
    expect(isAgentClass(NotAnAgent)).toBe(false);
    expect(isAgentClass(Agent)).toBe(false);
    expect(isAgentClass({})).toBe(false);
    expect(isAgentClass(class extends Agent {})).toBe(true);
  });

  it('validates static schedule and accepts the text form', () => {
    class Bad extends Agent {
      static schedule = { every: '5m' };
    }
    expect(() => describeAgentClass(Bad)).toThrow(/static schedule must be built with Schedule.every\(\)/);
    class Text extends Agent {
      static schedule = 'every 10s';
    }
    expect(describeAgentClass(Text).schedule).toEqual({ kind: 'every', everyMs: 10_000 });
    class BadText extends Agent {
      static schedule = 'every fortnight';
    }
    expect(() => describeAgentClass(BadText)).toThrow(/static schedule 'every fortnight'/);
  });
});

describe('findAgentClass', () => {
  class One extends Agent {}
  class Two extends Agent {}
  it('prefers the named export, then the default, then the only subclass', () => {
    expect(findAgentClass({ One, Two }, 'a.ts', 'Two')).toBe(Two);
    expect(findAgentClass({ default: One, Two }, 'a.ts')).toBe(One);
    expect(findAgentClass({ One, helper: () => 1, Agent }, 'a.ts')).toBe(One);
  });
  it('explains what is wrong otherwise', () => {
    expect(() => findAgentClass({ One, Two }, 'agents/x.ts')).toThrow("agents/x.ts: exports several Agent classes (One, Two)");
    expect(() => findAgentClass({ Agent }, 'agents/x.ts')).toThrow(/agents\/x.ts: no Agent subclass is exported/);
    expect(() => findAgentClass({ One }, 'agents/x.ts', 'Nope')).toThrow("agents/x.ts: export 'Nope' does not exist");
  });
});

function sortHandlers(h: Array<{ event: string; method: string }>) {
  return [...h].sort((a, b) => (a.event + a.method).localeCompare(b.event + b.method));
}

function catchError(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected an error');
}
