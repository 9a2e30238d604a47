// The end-of-day workflow. Same keys as a YAML workflow; `defineWorkflow` adds type checking.
import { defineWorkflow } from 'openclaw-runtime';

export default defineWorkflow({
  description: 'Daily sales, inventory and ledger reports, checked per desk, approved, published',
  inputs: { day: 'today' },
  steps: [
    // Independent modules: no `needs`, so they run in parallel.
    { id: 'sales', type: 'shell', command: ['node', 'scripts/module.mjs', 'sales'], timeout: '2m' },
    { id: 'inventory', type: 'shell', command: ['node', 'scripts/module.mjs', 'inventory'], timeout: '2m' },
    {
      // The ledger database "drops connections": fails twice, then answers. Retried with backoff.
      id: 'ledger',
      type: 'shell',
      command: ['node', 'scripts/module.mjs', 'ledger', '--flaky', '2'],
      retry: { attempts: 4, delay: '200ms', backoff: 'exponential', max_delay: '5s' },
      timeout: '2m',
    },
    {
      // One compliance check per desk found in the sales module's output (fan-out), at most 2 at a time.
      id: 'desk-check',
      type: 'shell',
      needs: ['sales'],
      for_each: 'steps.sales.output.json.desks',
      max_parallel: 2,
      env: { DESK: '${{ item }}' },
      command: ['node', 'scripts/desk-check.mjs'],
    },
    {
      // Fan-in: the compiler sees every module's output, and the list of desk checks.
      id: 'compile',
      type: 'shell',
      needs: ['sales', 'inventory', 'ledger', 'desk-check'],
      env: {
        DAY: '${{ inputs.day }}',
        SALES: '${{ steps.sales.output.json }}',
        INVENTORY: '${{ steps.inventory.output.json }}',
        LEDGER: '${{ steps.ledger.output.json }}',
        CHECKS: '${{ steps["desk-check"].output.map(o, o.json) }}',
      },
      command: ['node', 'scripts/compile.mjs'],
    },
    {
      id: 'publish-approval',
      type: 'approval',
      needs: ['compile'],
      message: 'Publish the end-of-day report?',
      // Roles or teams; `local` is the operator on this machine when no API tokens are configured.
      approvers: ['finance', 'local'],
      timeout: '4h',
      default: 'reject',
    },
    {
      id: 'publish',
      type: 'shell',
      needs: ['publish-approval'],
      env: { APPROVED_BY: '${{ steps["publish-approval"].output.by }}' },
      command: ['node', 'scripts/publish.mjs'],
    },
  ],
  on_failure: [
    { id: 'notify-failure', type: 'shell', command: ['node', '-e', 'console.error("end-of-day failed; see openclaw workflow show")'] },
  ],
});
