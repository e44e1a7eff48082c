-- Rate limits counted here, so that they hold across every process sharing the
-- database (issue 18): one row per scope (`submit/kie`, `requests/<user id>`)
-- with the times let through in its last window (Unix milliseconds: the oldest,
-- then each next as the step from the one before) and a version that every
-- write moves on; a write holds only if the version is still the one read.
CREATE TABLE rate_windows (
    scope   TEXT PRIMARY KEY NOT NULL,
    stamps  TEXT NOT NULL,
    version INTEGER NOT NULL
);
