package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sewa/store"
)

// exportPeople are the seeded people: nothing of theirs may reach an export.
var exportPeople = []struct {
	name, phone, address string
}{
	{"Asha Devi", "9812345678", "Seelampur, Gali 4, H.No 112, Delhi 110053"},
	{"Ravi Kumar", "9876501234", "seelampur , near Jama Masjid"},
	{"Meena Kumari", "9988776655", "Seelampur"},
	{"Farida Begum", "9123456780", "Okhla Phase 2, B-44"},
	{"Suresh Yadav", "9000012345", "Suresh Yadav ka ghar, 12 Sangam Vihar"},
	{"Lakshmi Narayan", "9811122233", "geo:28.671234,77.283456"},
}

var exportSecrets = []string{
	"ABCDE1234F", "PQRSX6789Z", // PANs
	"asha.devi@okaxis", "donor77@ybl", // VPAs
	"412345678901", "UTR0099887766", // bank references
	"Rohit Sharma", "Priya Menon", // donors and receipt names
	"MG Road", "Flat 9, Lajpat Nagar", // receipt addresses
	"photos/list-1.jpg", "photos/proof-2.jpg",
	"Nizamuddin godown of Anil",                                                    // a stock location naming a person
	"Kamla",                                                                        // a volunteer named in a ledger note
	"Gali 4", "H.No", "110053", "Jama Masjid", "B-44", "Sangam Vihar", "28.671234", // address details
}

func seedExport(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	day := time.Date(2026, 4, 3, 9, 0, 0, 0, time.UTC)
	err := st.Tx(ctx, func(tx *store.Tx) error {
		for i, p := range exportPeople {
			at := day.Add(time.Duration(i) * 24 * time.Hour)
			c := &store.Contact{Channel: "wa", Address: "91" + p.phone, Name: p.name, Phone: p.phone, Created: at, LastSeen: at}
			if err := tx.SaveContact(c); err != nil {
				return err
			}
			card := &store.Card{Flow: "request", Stage: "validate", Requester: c.ID, Created: at, Updated: at, StageEntered: at,
				Fields: map[string]string{"name": p.name, "phone": p.phone, "address": p.address, "families": "2", "people": "9",
					"special": "my husband " + p.name + " is ill, call " + p.phone, "list_photo": "photos/list-1.jpg"}}
			if err := tx.NewCard("R", card); err != nil {
				return err
			}
			if err := tx.AddEvent(store.Event{Card: card.ID, At: at, Actor: "wa:91" + p.phone + " " + p.name, To: "validate", What: "created"}); err != nil {
				return err
			}
			if i%2 == 0 { // approved and delivered two days later
				card.Fields["kits"] = "2"
				card.Fields["kits_given"] = "2"
				card.Fields["proof"] = "photos/proof-2.jpg"
				card.Stage, card.Open = "delivered", false
				card.StageEntered = at.Add(48 * time.Hour)
				if err := tx.SaveCard(card); err != nil {
					return err
				}
				if err := tx.AddEvent(store.Event{Card: card.ID, At: card.StageEntered, Actor: "tg:55 Kamla", From: "deliver", To: "delivered"}); err != nil {
					return err
				}
				if err := tx.AddStock(store.StockEntry{At: at, Item: "kit", Location: "Nizamuddin godown of Anil", Kind: store.StockReserved, Qty: 2,
					Card: card.ID, Actor: "system", Note: "for " + p.name}); err != nil {
					return err
				}
			}
		}
		if err := tx.AddStock(store.StockEntry{At: day, Item: "kit", Location: "Nizamuddin godown of Anil", Kind: store.StockReceived, Qty: 100,
			Actor: "tg:55 Kamla", Note: "from Kamla, call 9812345678"}); err != nil {
			return err
		}
		donations := []map[string]string{
			{"amount": "1100.00", "ref": "412345678901", "counterparty": "asha.devi@okaxis", "date": "2026-04-05", "bank": "SBI",
				"donor_name": "Rohit Sharma", "donor_phone": "9812345678", "receipt_name": "Rohit Sharma", "receipt_address": "12 MG Road, Pune", "pan": "ABCDE1234F"},
			{"amount": "500", "ref": "UTR0099887766", "counterparty": "donor77@ybl", "bank": "HDFC",
				"receipt_name": "Priya Menon", "receipt_address": "Flat 9, Lajpat Nagar", "pan": "PQRSX6789Z"},
		}
		for i, f := range donations {
			at := day.Add(time.Duration(i) * time.Hour)
			d := &store.Card{Flow: "donation", Stage: "identify", Created: at, Updated: at, StageEntered: at, Fields: f}
			if err := tx.NewCard("D", d); err != nil {
				return err
			}
		}
		// Outside the period: not exported.
		late := day.AddDate(0, 1, 0)
		return tx.NewCard("R", &store.Card{Flow: "request", Stage: "validate", Created: late, Updated: late, StageEntered: late,
			Fields: map[string]string{"name": "Late Person", "address": "Seelampur"}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func exportAll(t *testing.T, st *store.Store) (map[string]string, store.ExportSummary) {
	t.Helper()
	files := map[string]*bytes.Buffer{}
	sum, err := st.Export(context.Background(), store.ExportOptions{
		From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
	}, func(name string) (io.Writer, error) {
		files[name] = &bytes.Buffer{}
		return files[name], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range files {
		out[k] = v.String()
	}
	return out, sum
}

func readCSV(t *testing.T, s string) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// The export holds no name, phone, address, PAN, UPI id, bank reference,
// photo or note of anyone seeded, in any spelling of the phone number.
func TestExportHasNoPersonalData(t *testing.T) { eachBackend(t, testExportHasNoPersonalData) }

func testExportHasNoPersonalData(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	seedExport(t, st)
	files, _ := exportAll(t, st)
	var needles []string
	for _, p := range exportPeople {
		needles = append(needles, p.name, p.phone, "91"+p.phone, p.phone[:5]+" "+p.phone[5:])
		needles = append(needles, strings.Fields(p.name)...)
	}
	needles = append(needles, exportSecrets...)
	rawID := regexp.MustCompile(`\b[RDVO]-\d+\b`) // hashes are lower case: r-3fa9…
	for name, body := range files {
		if id := rawID.FindString(body); id != "" {
			t.Errorf("%s contains the card id %s", name, id)
		}
		low := strings.ToLower(body)
		for _, n := range needles {
			if strings.Contains(low, strings.ToLower(n)) {
				t.Errorf("%s contains %q:\n%s", name, n, body)
			}
		}
	}
}

func TestExportKeepsCountsAndAmounts(t *testing.T) { eachBackend(t, testExportKeepsCountsAndAmounts) }

func testExportKeepsCountsAndAmounts(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	seedExport(t, st)
	files, sum := exportAll(t, st)
	if sum.Requests != 6 || sum.Deliveries != 3 || sum.Donations != 2 || sum.Stock != 4 {
		t.Fatalf("summary %+v; want 6 requests, 3 deliveries, 2 donations, 4 ledger lines", sum)
	}
	want := []string{store.ExportRequests, store.ExportDeliveries, store.ExportDonations, store.ExportStock, store.ExportDataPackage}
	if !slices.Equal(sum.Files, want) {
		t.Fatalf("files %v, want %v", sum.Files, want)
	}
	reqs := readCSV(t, files[store.ExportRequests])
	localities := map[string]int{}
	for _, r := range reqs {
		localities[r["locality"]]++
		if r["families"] != "2" || r["people"] != "9" {
			t.Errorf("counts lost: %v", r)
		}
	}
	// Three requests name Seelampur (in three spellings); Okhla Phase 2 and
	// a shared location are named once each, so they are "other"; the
	// address naming the requester has no locality.
	if localities["Seelampur"] != 3 || localities["other"] != 2 || localities[""] != 1 || len(localities) != 3 {
		t.Errorf("localities %v; want Seelampur 3, other 2, unknown 1", localities)
	}
	delivered := 0
	for _, r := range reqs {
		if r["status"] == "delivered" {
			delivered++
			if r["days_to_delivery"] != "2" || r["kits_delivered"] != "2" || r["delivered"] == "" {
				t.Errorf("delivered request: %v", r)
			}
		}
	}
	if delivered != 3 {
		t.Errorf("%d delivered requests, want 3", delivered)
	}
	// The same request has the same hash in every file and every export.
	dels := readCSV(t, files[store.ExportDeliveries])
	for _, d := range dels {
		if !slices.ContainsFunc(reqs, func(r map[string]string) bool { return r["request"] == d["request"] && r["locality"] == d["locality"] }) {
			t.Errorf("delivery %v matches no request", d)
		}
	}
	again, _ := exportAll(t, st)
	if again[store.ExportRequests] != files[store.ExportRequests] {
		t.Error("a second export differs: hashes must be stable")
	}
	dons := readCSV(t, files[store.ExportDonations])
	if len(dons) != 2 || dons[0]["amount"] != "1100.00" || dons[0]["date"] != "2026-04-05" || dons[0]["bank"] != "SBI" ||
		dons[1]["amount"] != "500.00" || dons[1]["date"] != "2026-04-03" {
		t.Errorf("donations %v", dons)
	}
	stock := readCSV(t, files[store.ExportStock])
	i := slices.IndexFunc(stock, func(r map[string]string) bool { return r["kind"] == "received" })
	if i < 0 || stock[i]["qty"] != "100" || stock[i]["card"] != "" || stock[i]["item"] != "kit" || !strings.HasPrefix(stock[i]["location"], "l-") {
		t.Errorf("stock ledger %v", stock)
	}
	for _, r := range stock {
		if r["kind"] == "reserved" && !slices.ContainsFunc(reqs, func(q map[string]string) bool { return q["request"] == r["card"] }) {
			t.Errorf("reservation %v names no exported request", r)
		}
	}
	// datapackage.json describes exactly the columns of each file.
	var pkg struct {
		Resources []struct {
			Path   string
			Schema struct {
				Fields []struct{ Name, Type, Description string }
			}
		}
	}
	if err := json.Unmarshal([]byte(files[store.ExportDataPackage]), &pkg); err != nil {
		t.Fatal(err)
	}
	if len(pkg.Resources) != 4 {
		t.Fatalf("%d resources", len(pkg.Resources))
	}
	for _, r := range pkg.Resources {
		header, _ := csv.NewReader(strings.NewReader(files[r.Path])).Read()
		var names []string
		for _, f := range r.Schema.Fields {
			names = append(names, f.Name)
			if f.Type == "" || f.Description == "" {
				t.Errorf("%s.%s lacks a type or description", r.Path, f.Name)
			}
		}
		if !slices.Equal(names, header) {
			t.Errorf("%s: datapackage columns %v, file header %v", r.Path, names, header)
		}
	}
}

func TestExportRefusesAnEmptyPeriod(t *testing.T) { eachBackend(t, testExportRefusesAnEmptyPeriod) }

func testExportRefusesAnEmptyPeriod(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	_, err := st.Export(context.Background(), store.ExportOptions{From: at, To: at}, func(string) (io.Writer, error) { return io.Discard, nil })
	if err == nil {
		t.Fatal("an empty period exported")
	}
}

func TestLocality(t *testing.T) {
	tests := []struct {
		fields map[string]string
		want   string
	}{
		{map[string]string{"address": "Seelampur, Gali 4, H.No 112"}, "Seelampur"},
		{map[string]string{"address": "  seelampur  phase   ii , near school"}, "Seelampur Phase Ii"},
		{map[string]string{"address": "H.No 112, Gali 4, Seelampur, Delhi"}, "Seelampur"},
		{map[string]string{"address": "12 Sangam Vihar"}, ""},
		{map[string]string{"address": "Okhla Phase 2, B-44"}, "Okhla Phase 2"},
		{map[string]string{"address": "B-44, Sector-15, Noida"}, "Sector 15"},
		{map[string]string{"address": "Asha's house, Okhla", "name": "Asha Devi"}, "Okhla"},
		{map[string]string{"address": "Okhla", "area": "Jamia Nagar"}, "Jamia Nagar"},
		{map[string]string{"address": "geo:28.671234,77.283456"}, "28.67,77.28"},
		{map[string]string{"address": "geo:not a place"}, ""},
		{map[string]string{"address": "call me at asha@okaxis"}, ""},
		{map[string]string{"address": "सीलमपुर, गली 4"}, "सीलमपुर"},
		{map[string]string{"address": "=HYPERLINK(x), Okhla"}, "Okhla"},
		{map[string]string{}, ""},
	}
	for _, tt := range tests {
		if got := store.Locality(tt.fields); got != tt.want {
			t.Errorf("Locality(%v) = %q, want %q", tt.fields, got, tt.want)
		}
	}
}

func TestSecretIsMadeOnceAndRotates(t *testing.T) { eachBackend(t, testSecretIsMadeOnceAndRotates) }

func testSecretIsMadeOnceAndRotates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sewa.db")
	st := open(t, path)
	a, err := st.Secret(ctx, "x")
	if err != nil || len(a) != store.SecretSize {
		t.Fatalf("secret %x, %v", a, err)
	}
	b, _ := st.Secret(ctx, "x")
	if !bytes.Equal(a, b) {
		t.Fatal("the secret changed between reads")
	}
	var c []byte
	st.Tx(ctx, func(tx *store.Tx) error { c, err = tx.RotateSecret("x"); return err })
	if err != nil || bytes.Equal(a, c) {
		t.Fatalf("rotate: %v", err)
	}
	if d, _ := st.Secret(ctx, "x"); !bytes.Equal(c, d) {
		t.Fatal("the rotated secret was not kept")
	}
}
