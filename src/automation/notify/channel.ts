/** One attempt at delivering a prepared notification; throws an AttemptError. */
export type ChannelAttempt = (signal: AbortSignal, timeoutSeconds: number) => Promise<void>;
