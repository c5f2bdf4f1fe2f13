// The SQS lane: moves messages through one SQS FIFO queue. It sends, receives, deletes and extends
// visibility; it never decides what a message means. Emulators are reached through the SDK's own
// endpoint variables (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL), so nothing here knows about them.
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { assertFifoQueueUrl } from '../config/config.ts';

// SQS hands out at most ten messages per ReceiveMessage call.
const MAX_PER_RECEIVE = 10;

export interface SqsSend {
  body: string;
  groupId: string;
  deduplicationId: string;
}

export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  groupId: string | undefined;
  /** 1 the first time SQS hands the message out; more after a consumer let its visibility lapse. */
  receiveCount: number;
}

export interface ReceiveOptions {
  limit: number;
  /** Long polling: how long an empty queue may keep the call open (0 to 20). */
  waitSeconds: number;
  visibilityTimeoutSeconds: number;
  /** Abandons a pending long poll (shutdown). */
  signal?: AbortSignal;
}

/** The operations the rest of Switchyard needs from a FIFO queue. */
export interface MessageLane {
  send(message: SqsSend): Promise<string>;
  receive(options: ReceiveOptions): Promise<ReceivedMessage[]>;
  delete(receiptHandle: string): Promise<void>;
  extendVisibility(receiptHandle: string, seconds: number): Promise<void>;
  stop(): void;
}

export class SqsLane implements MessageLane {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(queueUrl: string, region: string | undefined) {
    assertFifoQueueUrl(queueUrl);
    this.#queueUrl = queueUrl;
    this.#client = new SQSClient({ region: region ?? regionOf(queueUrl) });
  }

  async send(message: SqsSend): Promise<string> {
    const result = await this.#client.send(new SendMessageCommand({
      QueueUrl: this.#queueUrl,
      MessageBody: message.body,
      MessageGroupId: message.groupId,
      MessageDeduplicationId: message.deduplicationId,
    }));
    return result.MessageId!;
  }

  async receive(options: ReceiveOptions): Promise<ReceivedMessage[]> {
    const received: ReceivedMessage[] = [];
    while (received.length < options.limit) {
      const result = await this.#client.send(new ReceiveMessageCommand({
        QueueUrl: this.#queueUrl,
        MaxNumberOfMessages: Math.min(MAX_PER_RECEIVE, options.limit - received.length),
        // Only the first call waits: once something arrived, the batch goes to work at once.
        WaitTimeSeconds: received.length === 0 ? options.waitSeconds : 0,
        VisibilityTimeout: options.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId'],
      }), { abortSignal: options.signal });
      const messages = result.Messages ?? [];
      for (const message of messages) {
        received.push({
          messageId: message.MessageId!,
          receiptHandle: message.ReceiptHandle!,
          body: message.Body ?? '',
          groupId: message.Attributes?.MessageGroupId,
          receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? '1'),
        });
      }
      if (messages.length < MAX_PER_RECEIVE) break;
    }
    return received;
  }

  async delete(receiptHandle: string): Promise<void> {
    await this.#client.send(new DeleteMessageCommand({ QueueUrl: this.#queueUrl, ReceiptHandle: receiptHandle }));
  }

  async extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.#client.send(new ChangeMessageVisibilityCommand({
      QueueUrl: this.#queueUrl,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: seconds,
    }));
  }

  stop(): void {
    this.#client.destroy();
  }
}

// https://sqs.eu-west-1.amazonaws.com/... carries its region; an explicit AWS_SQS_REGION wins.
function regionOf(queueUrl: string): string | undefined {
  return /^sqs\.([a-z0-9-]+)\./.exec(new URL(queueUrl).hostname)?.[1];
}
