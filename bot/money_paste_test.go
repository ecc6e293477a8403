package bot

import (
	"testing"

	"sewa/flows"
	"sewa/store"
)

// isPastedSMS decides whether a message's bare text is a bank SMS. It must
// never take a beneficiary's text, nor an answer to a question, for one.
func TestIsPastedSMS(t *testing.T) {
	const (
		credit   = "Money Received - INR 1,100.00 in your HDFC Bank A/c xx3344 on 13-03-24 from VPA chitra.n@okaxis (UPI 407312200456)"
		debit    = "Rs.500.00 debited from A/c XX3344 on 14-03-24 to VPA shop@ybl UPI Ref 407412345678"
		otp      = "Your OTP for transaction of Rs 2000 at Amazon is 482910. Do not share it with anyone."
		noEvid   = "Received Rs 500 credited from Ramesh, thank you so much"
		greeting = "hello"
	)
	treasurer := &store.Contact{Roles: []string{"treasurer"}}
	coordinator := &store.Contact{Roles: []string{"coordinator"}}
	caller := &store.Contact{Roles: []string{"caller"}}
	nobody := &store.Contact{}
	idle := state{}
	answering := state{Session: flows.Session{Flow: "donation", Stage: "collect", Card: "D-1", Q: 1}}
	tests := []struct {
		name string
		who  *store.Contact
		st   state
		text string
		want bool
	}{
		{"treasurer's credit", treasurer, idle, credit, true},
		{"coordinator's credit", coordinator, idle, credit, true},
		{"treasurer's debit: told it is not a donation", treasurer, idle, debit, true},
		{"treasurer's OTP: told it is not a donation", treasurer, idle, otp, true},
		{"treasurer's greeting is not an SMS", treasurer, idle, greeting, false},
		{"treasurer's menu pick is not an SMS", treasurer, idle, "1", false},
		{"a command is not an SMS", treasurer, idle, "/sms " + credit, false},
		{"beneficiary's credit", nobody, idle, credit, false},
		{"caller's credit", caller, idle, credit, false},
		{"mid-question, an unmistakable credit", treasurer, answering, credit, true},
		{"mid-question, an unmistakable debit", treasurer, answering, debit, true},
		{"mid-question, an OTP is an answer", treasurer, answering, otp, false},
		{"mid-question, money words without an account are an answer", treasurer, answering, noEvid, false},
		{"mid-question, an address is an answer", treasurer, answering, "12 Park Street, Kolkata 700016, near the post office", false},
		{"mid-question, a name is an answer", treasurer, answering, "Chitra Narayanan", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &handling{who: tc.who, st: tc.st}
			if got := h.isPastedSMS(tc.text); got != tc.want {
				t.Errorf("isPastedSMS = %v, want %v (parsed %+v)", got, tc.want, flows.ParseSMS(tc.text))
			}
		})
	}
}

func TestDonationKey(t *testing.T) {
	key := func(text string) string { return donationKey(flows.ParseSMS(text), text) }
	same := []string{
		"Money Received - INR 1,100.00 in your HDFC Bank A/c xx3344 on 13-03-24 from VPA chitra.n@okaxis (UPI 407312200456)",
		"Dear Customer, Acct XX3344 is credited with Rs 1,100.00 on 13-Mar-24 from chitra.n@okaxis. UPI:407312200456-HDFC Bank.",
	}
	if a, b := key(same[0]), key(same[1]); a != b || a != "ref:407312200456" {
		t.Errorf("one UPI payment in two wordings: keys %q and %q", a, b)
	}
	cash := "Update! INR 2,500.00 deposited in HDFC Bank A/c XX3344 on 16-MAR-24 for CASH DEPOSIT-ANDHERI EAST BRANCH.Avl bal INR 40,000.00."
	if got := key(cash); got != "txn:2500.00|3344|2024-03-16|" {
		t.Errorf("a deposit without a reference: key %q", got)
	}
	if key(cash) == key("Update! INR 2,500.00 deposited in HDFC Bank A/c XX3344 on 17-MAR-24 for CASH DEPOSIT-ANDHERI EAST BRANCH.") {
		t.Error("deposits on two days share a key")
	}
	cheque := "Cheque No. 778812 for Rs.5,000.00 has been credited to your A/c XX6655 on 14-03-2024"
	if s := flows.ParseSMS(cheque); s.Ref != nil && len(*s.Ref) < 9 {
		if got := key(cheque); got != "ref:"+*s.Ref+"|5000.00" {
			t.Errorf("a cheque number is qualified by its amount: key %q", got)
		}
	}
}
