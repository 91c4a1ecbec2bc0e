import type { ChangeNotice } from '../../workflows/approval-types.ts';
import { publishChangeCards, type PublishDeps } from './chat.ts';
import { mirrorChangeRecords } from './itsm.ts';

/**
 * Shows the cycle's change, as it stands now, wherever people follow it: the cards in every chat
 * and the change records in every ITSM tool. Each is best effort and independent of the other,
 * so a slow or failing ITSM tool neither holds up the chat card nor the cycle.
 */
export async function publishChangeEverywhere(
  deps: PublishDeps,
  cycleId: string,
  notice?: ChangeNotice,
): Promise<void> {
  // Both finish before a failure is reported, so that a retried activity never overlaps the half still running.
  const results = await Promise.allSettled([
    publishChangeCards(deps, cycleId, notice),
    mirrorChangeRecords(deps, cycleId),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
