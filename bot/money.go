package bot

import (
	"net/http"

	"sewa/flows"
)

// Donations. Money reaches Sewa as bank SMS: pasted into the chat by a
// treasurer (/sms, or the bare SMS text), posted by an SMS-forwarder app to
// POST /sms, or imported from a backup (sewa sms import). Each credit becomes
// exactly one donation card, whatever path it came by (money_sms.go); the
// donation flow identifies the donor and collects their details, and the
// make_receipt action issues a numbered tax receipt and sends it
// (money_receipt.go).

// moneyConfig is what receipts and the SMS webhook need from configuration.
type moneyConfig struct {
	org      flows.Org
	dataDir  string // receipts are kept under dataDir/receipts
	smsToken string // bearer token of POST /sms; "" turns the endpoint off
}

// WithOrg sets the group's name, address and registration/80G details,
// printed on every receipt. Without a name no receipt is made.
func WithOrg(org flows.Org) Option { return func(r *Runtime) { r.money.org = org } }

// WithDataDir sets the directory Sewa keeps files in (receipts go under
// DIR/receipts). Without it no receipt is made.
func WithDataDir(dir string) Option { return func(r *Runtime) { r.money.dataDir = dir } }

// WithSMSToken sets the bearer token an SMS forwarder must send to POST
// /sms. Without it the endpoint answers 404.
func WithSMSToken(token string) Option { return func(r *Runtime) { r.money.smsToken = token } }

// moneyCommands are the treasurers': donations and receipts.
func (h *handling) moneyCommands() []command {
	treasurer := []string{RoleTreasurer}
	return []command{
		{name: "sms", roles: treasurer, help: "help_sms", run: (*handling).cmdSMS},
		{name: "donations", roles: treasurer, help: "help_donations", run: (*handling).cmdDonations},
		{name: "receipt", roles: treasurer, help: "help_receipt", run: (*handling).cmdReceipt},
	}
}

// moneyRoutes serves the SMS forwarder's POST /sms.
func (r *Runtime) moneyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /sms", r.serveSMS)
}
