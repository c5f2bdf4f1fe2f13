// SQL the SQS side needs beyond job-repository.ts, one function per statement.
import type { SqlClient } from '../db/sql-client.ts';
import { toStorableText } from '../model/wire-rules.ts';

export interface RejectedMessage {
  messageId: string;
  body: string;
  error: string;
  groupId: string | undefined;
}

/**
 * Records a message that is not a job. A redelivery of the same message changes nothing. Body and
 * reason are made storable first: a message that cannot even be recorded would come back forever.
 */
export async function insertRejectedMessage(db: SqlClient, message: RejectedMessage): Promise<void> {
  await db.query(
    `INSERT INTO sqs_rejected_messages (message_id, body, error, group_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (message_id) DO NOTHING`,
    [message.messageId, toStorableText(message.body), toStorableText(message.error), message.groupId ?? null],
  );
}
