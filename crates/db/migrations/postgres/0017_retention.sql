-- Jobs that one instance runs at a time hold a lease row (the retention cleanup,
-- `retention`): taken when free, expired, or already the holder's; renewed while
-- the job runs. Times are milliseconds since the Unix epoch.
CREATE TABLE job_leases (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The cleanup finds what expired by index, a batch at a time (seed 001 1.7):
-- providers' copies past their own expiry, sign-in links and sessions.
CREATE INDEX provider_uploads_expiry ON provider_uploads (expires_at);
CREATE INDEX sign_in_links_expiry ON sign_in_links (expires_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
