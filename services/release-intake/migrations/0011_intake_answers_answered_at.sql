-- Housekeeping deletes the answers older than SLUICE_INBOX_RETENTION (service::App::Retain).
CREATE INDEX intake_answers_answered_at_idx ON intake_answers (answered_at);
