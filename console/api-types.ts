/**
 * What the console's JSON API returns: the contract between the server (console/*.ts) and the page
 * (console/page/*.ts, which imports these types only). Hours are UTC `YYYY-MM-DDTHH`; a range's `to`
 * is exclusive, as `lakehouse backfill --to` is.
 */

export interface HourRange {
  readonly from: string;
  /** Exclusive. */
  readonly to: string;
}

export interface Overview {
  readonly lake: string;
  /** The event hours the catalog holds partitions for, from the first to the one after the last; absent for an empty lake. */
  readonly lakeRange?: HourRange;
  /** The arrival hours with raw objects, from the first to the one after the last; absent without raw data. */
  readonly arrivalRange?: HourRange;
  readonly catalogVersion: number;
}

// ---------------------------------------------------------------- analytics

export interface AnalyticsData {
  readonly range: HourRange;
  /** Event hours in the range with at least one unloaded aggregate. */
  readonly hoursWithData: number;
  readonly eventMix: readonly { readonly name: string; readonly events: number }[];
  readonly perHour: readonly { readonly time: string; readonly events: number; readonly users: number }[];
  readonly perMinute: readonly { readonly time: string; readonly events: number; readonly users: number }[];
  /** Summed over the hours: each hour's distinct users, by the step they reached in a session starting in that hour. */
  readonly funnel: readonly { readonly step: string; readonly users: number }[];
  readonly sessions: readonly { readonly hour: string; readonly sessions: number; readonly meanLengthSeconds: number; readonly meanEvents: number }[];
  /** ISO 3166-1 alpha-2 codes; null where geolocation found none. */
  readonly countries: readonly { readonly country: string | null; readonly events: number }[];
  /** The ten regions with the most requests, summed from each hour's top 10. */
  readonly topRegions: readonly { readonly country: string | null; readonly region: string | null; readonly requests: number }[];
  readonly customers: {
    /** The most active users over the range, at most CUSTOMER_ROWS. */
    readonly rows: readonly CustomerActions[];
    readonly users: number;
  };
  readonly anomalies: {
    /** (hour, event name) rows checked against their trailing 24 hours. */
    readonly checked: number;
    readonly flagged: readonly TrafficAnomaly[];
  };
  readonly prices: PriceAdjustments;
}

export interface CustomerActions {
  readonly userId: string;
  readonly searches: number;
  readonly views: number;
  readonly addToCarts: number;
  readonly purchases: number;
  readonly events: number;
  readonly hours: number;
}

export interface TrafficAnomaly {
  readonly hour: string;
  readonly eventName: string;
  readonly events: number;
  readonly trailingMean: number;
  readonly trailingStddev: number;
  readonly zScore: number;
}

export interface PriceAdjustments {
  /** False for a lake without operational tables (nothing generated yet). */
  readonly available: boolean;
  readonly products: number;
  /** Products whose current price differs from their base price. */
  readonly offBase: number;
  /** Decisions on signals of event hours in the range. */
  readonly changed: number;
  readonly held: number;
  /** The latest changes in the range, newest first. */
  readonly latest: readonly PriceAdjustment[];
  /** Changes per signal (event) hour in the range, up and down. */
  readonly byHour: readonly { readonly hour: string; readonly raised: number; readonly lowered: number }[];
}

export interface PriceAdjustment {
  readonly decidedAt: string;
  readonly productId: number;
  readonly product: string;
  readonly category: string;
  readonly eventHour: string;
  readonly oldPrice: number;
  readonly newPrice: number;
  readonly reason: string;
}

// ---------------------------------------------------------------- operations

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

export interface ExecutionSummary {
  readonly id: string;
  readonly workflow: string;
  /** The hour, or `from .. to`, the execution ran for. */
  readonly subject: string;
  readonly status: ExecutionStatus;
  readonly startedAt: string;
  readonly stoppedAt?: string;
  readonly durationMs?: number;
  readonly parentId?: string;
  readonly rerunOf?: string;
}

export interface StateVisit {
  readonly name: string;
  readonly type: string;
  readonly mapIndex?: number;
  readonly enteredAt: string;
  readonly exitedAt?: string;
  readonly durationMs?: number;
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CAUGHT';
  readonly retries: number;
  readonly input: unknown;
  readonly output?: unknown;
  readonly error?: { readonly error: string; readonly cause: string };
  readonly retriedErrors?: readonly { readonly error: string; readonly cause: string }[];
}

export interface ExecutionDetail {
  readonly summary: ExecutionSummary;
  readonly input: unknown;
  readonly output?: unknown;
  readonly error?: { readonly error: string; readonly cause: string };
  readonly states: readonly StateVisit[];
  readonly graph: WorkflowGraph;
  /** Executions this one started (a backfill's hours), oldest first. */
  readonly children: readonly ExecutionSummary[];
  /** Reruns of this execution, newest first. */
  readonly reruns: readonly ExecutionSummary[];
}

/** How a state fared in one execution. */
export type StateOutcome = 'succeeded' | 'failed' | 'caught' | 'retried' | 'running' | 'not-run';

/** A state machine laid out for drawing, each state with its outcome in one execution; coordinates in SVG user units. */
export interface WorkflowGraph {
  readonly workflow: string;
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly GraphNode[];
  readonly groups: readonly GraphGroup[];
  readonly edges: readonly GraphEdge[];
}

export interface GraphBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface GraphNode extends GraphBox {
  /** The state's name, unique in a definition (ASL requires it, nested states included). */
  readonly id: string;
  readonly type: string;
  readonly outcome: StateOutcome;
  /** How many times the state was entered (Map iterations count one each). */
  readonly visits: number;
  readonly retries: number;
  readonly comment?: string;
}

/** A Map's item processor or a Parallel's branches, drawn around their states; the group is the Map or Parallel state itself. */
export interface GraphGroup extends GraphBox {
  readonly id: string;
  readonly type: string;
  readonly label: string;
  readonly outcome: StateOutcome;
  readonly visits: number;
  readonly retries: number;
  readonly comment?: string;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: 'next' | 'choice' | 'default' | 'catch' | 'start';
  readonly label?: string;
  /** The polyline to draw, first point on the source's border, last on the target's. */
  readonly points: readonly (readonly [number, number])[];
  /** Whether this execution went this way. */
  readonly taken: boolean;
}

export type JobKind = 'rerun' | 'backfill';

export interface JobView {
  readonly id: string;
  readonly kind: JobKind;
  readonly description: string;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly startedAt: string;
  readonly finishedAt?: string;
  /** The execution the job started, once it has started. */
  readonly executionId?: string;
  readonly progress: {
    readonly done: number;
    readonly total: number;
    /** `hours` for a backfill, `states` for one hourly execution. */
    readonly unit: 'hours' | 'states';
    /** What runs now, e.g. `hour 2021-07-12T05: AggregateTouchedHours`. */
    readonly current?: string;
  };
  /** The price delivery after the run, as the CLI prints it. */
  readonly pricing?: string;
  readonly error?: string;
}

// ---------------------------------------------------------------- lake health

export interface LakeHealth {
  readonly range: HourRange;
  readonly catalogVersion: number;
  readonly totals: {
    readonly partitions: number;
    readonly rows: number;
    readonly lateRows: number;
    readonly files: number;
    readonly bytes: number;
    readonly compactions: number;
  };
  readonly partitions: readonly PartitionHealth[];
  readonly rejects: RejectsSummary;
}

export interface PartitionHealth {
  readonly hour: string;
  readonly rows: number;
  readonly lateRows: number;
  /** lateRows / rows; 0 for an empty partition. */
  readonly lateShare: number;
  readonly files: number;
  readonly bytes: number;
  /** Files the catalog ever named for this partition (merges' deltas and compactions' rewrites). */
  readonly filesWritten: number;
  readonly compactions: number;
  /** The latest compaction's file counts. */
  readonly filesBeforeCompaction?: number;
  readonly filesAfterCompaction?: number;
  readonly lastCommit?: { readonly version: number; readonly at: string; readonly execution: string; readonly step: string };
}

export interface RejectsSummary {
  readonly total: number;
  readonly byReason: readonly { readonly reason: string; readonly count: number }[];
  /** A few records of each reason, as the `rejects` view shows them. */
  readonly examples: readonly RejectExample[];
}

export interface RejectExample {
  readonly reason: string;
  readonly arrivalHour: string;
  readonly sourceKey: string;
  readonly recordNumber: number;
  readonly record: string | null;
}

/** The body of every refused or failed request. */
export interface ApiError {
  readonly error: string;
}
