package bot

import "net/http"

// moneyCommands are the treasurers': donations and receipts.
func (h *handling) moneyCommands() []command {
	return nil
}

// moneyRoutes serves the SMS forwarder's POST /sms.
func (r *Runtime) moneyRoutes(mux *http.ServeMux) {}
