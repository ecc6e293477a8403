package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"sewa/store"
)

// seedBoardPG is seedBoard in PostgreSQL's SQL: the same board of n cards
// (generate_series for SQLite's recursive sequence, lpad for printf,
// json_build_object for json_object).
func seedBoardPG(b testing.TB, st *store.Store, n int) {
	b.Helper()
	now := boardNow.UnixMilli()
	const year = int64(365 * 24 * time.Hour / time.Millisecond)
	const hour = int64(time.Hour / time.Millisecond)
	stmts := []string{
		`INSERT INTO contacts (channel, address, name, phone, roles, created_at, last_seen)
			SELECT 'tg', 'u' || value, 'Person ' || value, '98' || lpad(value::text, 8, '0'), '', :now - :year, :now - (value % 1000) * 3600000
			FROM generate_series(1::bigint, :n / 2) AS value`,
		`INSERT INTO contacts (channel, address, name, roles, created_at, last_seen)
			SELECT 'tg', 'v' || value, 'Volunteer ' || value, CASE value % 4 WHEN 0 THEN 'caller' WHEN 1 THEN 'logistics' WHEN 2 THEN 'treasurer' ELSE 'outreach' END,
			:now - :year, :now - (value % 72) * 3600000 FROM generate_series(1::bigint, 200) AS value`,
		`INSERT INTO card_seq (prefix, last) VALUES ('R', :n), ('D', :n), ('O', :n), ('V', :n)`,
		`INSERT INTO cards (id, flow, stage, open, fields, requester, assignee, lease_until, priority, created_at, updated_at, stage_entered_at)
			SELECT p || '-' || value, f,
				CASE WHEN value % 50 = 0 THEN
					CASE f WHEN 'request' THEN CASE value % 4 WHEN 0 THEN 'validate' WHEN 1 THEN 'allocate' WHEN 2 THEN 'dispatch' ELSE 'deliver' END
					       WHEN 'donation' THEN CASE value % 3 WHEN 0 THEN 'identify' WHEN 1 THEN 'collect' ELSE 'ready' END
					       WHEN 'outreach' THEN CASE value % 2 WHEN 0 THEN 'draft' ELSE 'post' END
					       ELSE 'review' END
				ELSE CASE f WHEN 'request' THEN 'delivered' WHEN 'donation' THEN 'receipted' WHEN 'outreach' THEN 'posted' ELSE 'active' END END,
				(value % 50 = 0)::int,
				CASE f WHEN 'request' THEN json_build_object('name', 'Person ' || value, 'phone', '98' || lpad(value::text, 8, '0'),
						'address', 'House ' || value || ', Sanjay Colony ' || (value % 100), 'families', '1', 'kits_given', '1')::text
					WHEN 'donation' THEN json_build_object('amount', (value % 50 + 1) * 100 || '.00', 'ref', '4073' || lpad(value::text, 8, '0'), 'counterparty', 'PAYER ' || value)::text
					ELSE json_build_object('caption', 'post ' || value)::text END,
				CASE WHEN f = 'request' THEN (value - 1) / 2 + 1 END,
				CASE WHEN value % 100 = 0 THEN :n / 2 + 1 + (value / 100) % 200 END,
				NULL, 0,
				CASE WHEN value % 50 = 0 THEN :now - (value % 96) * :hour - :hour ELSE :now - :year + value * (:year / :n) END,
				:now,
				CASE WHEN value % 50 = 0 THEN :now - (value % 96) * :hour ELSE :now - :year + value * (:year / :n) + :hour END
			FROM (SELECT value, CASE WHEN value % 10 < 7 THEN 'request' WHEN value % 10 < 9 THEN 'donation' WHEN value % 50 = 49 THEN 'volunteer' ELSE 'outreach' END AS f,
				CASE WHEN value % 10 < 7 THEN 'R' WHEN value % 10 < 9 THEN 'D' WHEN value % 50 = 49 THEN 'V' ELSE 'O' END AS p
				FROM generate_series(1::bigint, :n) AS value) AS s`,
		`INSERT INTO card_events (card_id, at, actor, from_stage, to_stage, what)
			SELECT id, created_at + k * 600000, CASE k WHEN 0 THEN 'tg:u1 Person' ELSE 'tg:v' || (k * 7 % 200 + 1) || ' Volunteer' END,
				CASE k WHEN 0 THEN '' ELSE 'x' || k END, CASE k WHEN 2 THEN stage ELSE 'x' || (k + 1) END, ''
			FROM cards, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2) AS ks`,
		`INSERT INTO inbound (channel, external_id, received_at) SELECT 'tg', value::text, :now - (:n - value) * 1000 FROM generate_series(1::bigint, :n) AS value`,
		`INSERT INTO outbox (channel, address, body, status, next_at, created_at, sent_at)
			SELECT 'tg', 'u' || value, '{"text":"hello"}', CASE WHEN value % 1000 = 0 THEN 'failed' WHEN value > 2 * :n - 20 THEN 'pending' ELSE 'sent' END,
				:now - (2 * :n - value) * 500, :now - (2 * :n - value) * 500, :now - (2 * :n - value) * 500
			FROM generate_series(1::bigint, 2 * :n) AS value`,
		`INSERT INTO stock_ledger (at, item, location, kind, qty, card_id)
			SELECT created_at, 'kit', '', 'received', 1, id FROM cards WHERE flow = 'request' AND stage = 'delivered'`,
		`INSERT INTO stock_ledger (at, item, location, kind, qty, card_id)
			SELECT created_at, 'kit', '', 'delivered', 1, id FROM cards WHERE flow = 'request' AND stage = 'delivered'`,
		`ANALYZE`,
	}
	vals := strings.NewReplacer(":now", itoa(now), ":year", itoa(year), ":hour", itoa(hour), ":n", itoa(int64(n)))
	ctx := context.Background()
	for _, q := range stmts {
		q = vals.Replace(q)
		if _, err := st.DB().ExecContext(ctx, q); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
