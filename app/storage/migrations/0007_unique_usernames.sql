-- Usernames are unique (see docs/architecture.md, "State"). Sign-ins keep them so (a username another
-- user holds moves to the one signing in, app/storage/users.py); rows written before may share one.
-- Writes wait until the index is built, so no duplicate can arrive between the two statements.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

-- Each username stays with the row updated last (by updated_at, then the larger id, compared bytewise); the
-- other rows holding it lose it.
UPDATE users SET username = NULL
WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY username ORDER BY updated_at DESC, id COLLATE "C" DESC) AS rank
        FROM users
        WHERE username IS NOT NULL
    ) AS ranked
    WHERE rank > 1
);

CREATE UNIQUE INDEX users_username ON users (username) WHERE username IS NOT NULL;
