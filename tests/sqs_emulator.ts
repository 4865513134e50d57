/**
 * An SQS emulator (npm:fauxqs) for tests, bound to loopback only, with an AWS SDK client to
 * create queues, send messages and count what is left.
 */

import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";

/** The region every test queue lives in. */
export const REGION = "us-east-1";
/** Credentials the emulator accepts (it accepts any). */
export const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

/** A call the emulator received, and what became of it. */
export interface EmulatorCall {
  /** The SQS action, e.g. `ReceiveMessage`. */
  readonly action: string;
  /** `aborted`: the client closed the connection before the answer. */
  state: "pending" | "answered" | "aborted";
}

/**
 * fauxqs's app listening on 127.0.0.1 (its `startFauxqs` binds every interface), noting
 * every call it receives. Stop it with `stop()`.
 */
export class Emulator {
  private constructor(
    readonly app: ReturnType<typeof buildApp>,
    readonly endpoint: string,
    readonly client: SQSClient,
    /** Every call received, oldest first, the test's own included. */
    readonly calls: readonly EmulatorCall[],
  ) {}

  static async start(port = 0): Promise<Emulator> {
    const app = buildApp({ logger: false });
    const calls: EmulatorCall[] = [];
    const byRequest = new WeakMap<object, EmulatorCall>();
    app.addHook("onRequest", (request, _reply, done) => {
      const target = String(request.headers["x-amz-target"] ?? "");
      const call: EmulatorCall = { action: target.replace(/^AmazonSQS\./, ""), state: "pending" };
      calls.push(call);
      byRequest.set(request, call);
      // The connection closing before the answer: the client gave up on the call.
      request.raw.socket.once("close", () => {
        if (call.state === "pending") call.state = "aborted";
      });
      done();
    });
    app.addHook("onResponse", (request, _reply, done) => {
      const call = byRequest.get(request);
      if (call?.state === "pending") call.state = "answered";
      done();
    });
    const endpoint = await app.listen({ port, host: "127.0.0.1" });
    const client = new SQSClient({
      endpoint,
      region: REGION,
      credentials: CREDENTIALS,
      defaultUserAgentProvider: () => Promise.resolve([["tests"]]),
    });
    return new Emulator(app, endpoint, client, calls);
  }

  get port(): number {
    return Number(new URL(this.endpoint).port);
  }

  async createQueue(name: string, visibilitySeconds = 30): Promise<string> {
    const { QueueUrl } = await this.client.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: { VisibilityTimeout: String(visibilitySeconds) },
      }),
    );
    return QueueUrl!;
  }

  async send(queueUrl: string, body: string): Promise<string> {
    const { MessageId } = await this.client.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }),
    );
    return MessageId!;
  }

  /** Messages in the queue, visible or in flight. */
  async count(queueUrl: string): Promise<number> {
    const { Attributes } = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible);
  }

  async stop(): Promise<void> {
    this.client.destroy();
    await this.app.close();
  }
}
