-- The trace context of the request that created a task (a W3C `traceparent`), when
-- the server exports traces: the worker that runs the task, in whatever process,
-- continues that trace. NULL when traces are off.
ALTER TABLE tasks ADD COLUMN trace_context TEXT;
