-- A TOTP enrolment that the user started but has not yet confirmed with a code.
--
-- Same conventions as 0001. The secret becomes users.totp_secret once confirmed; a second
-- enrolment replaces it. Stored in clear like totp_secret (encryption at rest comes later).
ALTER TABLE users ADD COLUMN totp_pending_secret BLOB;
