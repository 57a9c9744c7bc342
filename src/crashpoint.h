/* Test hook: crash_point("ingest.after_insert") kills the process with
 * SIGKILL when the environment variable AFFTOK_CRASH_POINT names that point,
 * so the fault tests (tests/integration/15-faults.sh) can stop a cron job at
 * its riskiest moments (a batch written but its progress not recorded, a
 * delivery claimed but not sent, ...) and check that the next run repairs
 * everything. Unset (production), a point costs one predictable branch:
 * the variable is read once per process.
 *
 * AFFTOK_CRASH_POINT=NAME kills at the first passage through NAME;
 * NAME:N at the Nth. The points (the test runs each):
 *   ingest.before_commit       clicks and segment offsets written, no COMMIT
 *   ingest.after_commit        clicks stored, their events not sent
 *   ingest.after_publish       events sent, segments not marked published
 *   ingest.before_unlink       a finished segment not deleted yet
 *   match.before_commit        a pending postback's conversion written, row not resolved
 *   events.after_xadd          events in the stream, outbox rows not marked
 *   postbacks.after_lease      affiliate postbacks leased, nothing sent
 *   postbacks.after_send       sent, the attempts not recorded
 *   webhooks.before_ack        deliveries stored, stream entries not acknowledged
 *   webhooks.after_claim       deliveries leased, nothing sent
 *   webhooks.before_record     sent, the outcomes not recorded
 *   aggregate.mid_hour         an hour's base rollups rewritten, its cubes not
 *   aggregate.before_watermark every changed hour done, watermark not moved
 *   partitions.after_detach    an expired partition detached, not dropped */
#ifndef AFFTOK_CRASHPOINT_H
#define AFFTOK_CRASHPOINT_H

void crash_point(const char *name);

#endif
