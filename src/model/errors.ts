// Typed errors a caller can test for. The HTTP layer maps each to one status code in one place.

export interface FieldProblem {
  field: string;
  message: string;
}

/** Bad input: nothing was stored or sent. */
export class ValidationError extends Error {
  readonly problems: FieldProblem[];
  constructor(problems: FieldProblem[]) {
    super(problems.map((problem) => `${problem.field}: ${problem.message}`).join('; '));
    this.name = 'ValidationError';
    this.problems = problems;
  }
  static field(field: string, message: string): ValidationError {
    return new ValidationError([{ field, message }]);
  }
}

export class JobNotFoundError extends Error {
  readonly jobId: string;
  constructor(jobId: string) {
    super(`job ${jobId} not found`);
    this.name = 'JobNotFoundError';
    this.jobId = jobId;
  }
}

/** The service cannot take this now (it is stopping); the caller should try again, here or elsewhere. */
export class ServiceUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceUnavailableError';
  }
}

/** The job exists but is in a state that does not allow the action. */
export class InvalidStateError extends Error {
  readonly jobId: string;
  readonly status: string;
  constructor(jobId: string, status: string, action: string) {
    super(`job ${jobId} is ${status}; cannot ${action}`);
    this.name = 'InvalidStateError';
    this.jobId = jobId;
    this.status = status;
  }
}

export class BulkActionNotFoundError extends Error {
  readonly bulkActionId: string;
  constructor(id: string) {
    super(`bulk action ${id} not found`);
    this.name = 'BulkActionNotFoundError';
    this.bulkActionId = id;
  }
}
