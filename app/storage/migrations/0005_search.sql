-- Full-text search over messages (see docs/architecture.md, "Search").
--
-- search_fold(text): what the index sees of a text, the same steps as app/chat/search.py's fold() (a test
-- checks that both agree): lower case; canonical decomposition (NFD); Russian й put back together (a letter
-- of its own); the combining diacritical marks U+0300-U+036F, Hebrew points and Arabic harakat dropped;
-- recomposition (NFC) of what is left; ø đ ð ł ħ ı ŧ ς as o d d l h i t σ; ß æ œ as ss ae oe. All-ASCII
-- text is only lower-cased.
-- Built from normalize() and regexp_replace() rather than the unaccent extension, which the embedded
-- Postgres (pgserver) does not ship. Changing it means a migration that redefines it and recomputes
-- search_vector (an UPDATE of every row).
CREATE FUNCTION search_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.octet_length($1) = pg_catalog.length($1) THEN pg_catalog.lower($1) ELSE
        pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.translate(
            pg_catalog.normalize(pg_catalog.regexp_replace(
                pg_catalog.replace(pg_catalog.normalize(pg_catalog.lower($1), 'NFD'), U&'\0438\0306', U&'\0439'),
                U&'[\0300-\036F\0591-\05BD\05BF\05C1\05C2\05C4\05C5\05C7\0610-\061A\064B-\065F\0670]', '', 'g'),
                'NFC'),
            'øđðłħıŧς', 'oddlhitσ'),
            'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe')
    END
$$;

-- The words of each message, folded, split by the parser of the `simple` configuration (no stemming,
-- no stop words: every language is split alike). Computed by Postgres on insert and on every update
-- of the content (an edit, or a delete, which empties it). Not modelled in Peewee: only the search
-- query reads it.
ALTER TABLE messages
    ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search_fold(content))) STORED;

CREATE INDEX messages_search ON messages USING gin (search_vector);
