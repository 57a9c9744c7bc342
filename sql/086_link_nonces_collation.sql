-- Nonces compare byte by byte: every signed click's claim is a b-tree
-- insert into link_nonces' primary key, and under the database's
-- collation (C.UTF-8) each comparison went through strcoll (perf of the
-- ingest's session: bttextcmp/varstr_cmp under _bt_compare). A nonce is
-- ASCII and never sorted for people, so "C" changes no answer.
ALTER TABLE link_nonces ALTER COLUMN nonce TYPE text COLLATE "C";
