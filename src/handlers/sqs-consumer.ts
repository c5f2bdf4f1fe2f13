// The sqs-consumer Lambda function: the SQS event source mapping delivers batches from the FIFO queue
// and each message runs exactly as the poller runs it (record, then delete). A message that cannot
// be settled is reported back in batchItemFailures together with the later messages of its group
// (ReportBatchItemFailures), so the rest of the batch is not delivered again and the group keeps its
// order. Messages not yet started when the work window closes are reported back the same way.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { ReceivedMessage } from '../sqs/sqs-lane.ts';
import { functionRuntime } from './runtime.ts';
import { workWindow, type DeadlineContext } from './work-window.ts';

export function receivedMessages(event: SQSEvent): ReceivedMessage[] {
  return event.Records.map((record) => ({
    messageId: record.messageId,
    receiptHandle: record.receiptHandle,
    body: record.body,
    groupId: record.attributes.MessageGroupId,
    receiveCount: Number(record.attributes.ApproximateReceiveCount ?? '1'),
  }));
}

export async function handler(event: SQSEvent, context: DeadlineContext): Promise<SQSBatchResponse> {
  const { config, parts } = await functionRuntime();
  if (parts.sqsJobs === undefined) throw new Error('sqs-consumer: AWS_SQS_QUEUE_URL is not set, so its messages cannot be run');
  const window = workWindow(context, config.defaultTimeoutMs);
  try {
    const { left } = await parts.sqsJobs.runDelivered(receivedMessages(event), { stopStarting: window.stopTaking, abandon: window.abandon });
    return { batchItemFailures: left.map((message) => ({ itemIdentifier: message.messageId })) };
  } finally {
    window.dispose();
  }
}
