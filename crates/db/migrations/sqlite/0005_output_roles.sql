-- An output's role among its task's outputs: primary, preview or extra.
ALTER TABLE assets ADD COLUMN role TEXT NOT NULL DEFAULT 'primary';
