package flows_test

import (
	"fmt"

	"sewa/flows"
)

// show prints an optional field the way a volunteer would read it.
func show(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

func ExampleParseSMS() {
	s := flows.ParseSMS("Money Received - INR 1,100.00 in your HDFC Bank A/c xx3344 on 13-03-24 from VPA chitra.n@okaxis (UPI 407312200456)")
	fmt.Println(s.Kind, show(s.Amount), show(s.Date))
	fmt.Println("from", show(s.Counterparty), "into", show(s.Bank), "A/c", show(s.AccountTail), "ref", show(s.Ref))
	// Output:
	// credit 1100.00 2024-03-13
	// from chitra.n@okaxis into HDFC A/c 3344 ref 407312200456
}

// A volunteer forwards an alert with a note on top; only the alert is read.
func ExampleParseSMS_forwarded() {
	s := flows.ParseSMS("Didi ka donation aaya\nFwd: Your a/c no. XXXXXXXX7740 is credited by Rs.1,500.00 on 20-03-24 by a/c linked to mobile 8XXXXXX912-NANDINI SEN (IMPS Ref no 408016673344).-SBI")
	fmt.Println(s.Kind, show(s.Amount), show(s.Counterparty), show(s.Bank))
	// Output: credit 1500.00 NANDINI SEN SBI
}

// Hindi alerts, with Indian digit grouping, read the same way.
func ExampleParseSMS_hindi() {
	s := flows.ParseSMS("आपके खाते XX1234 में रु 1,00,000 जमा किए गए, दिनांक 05/04/2024 -पंजाब नेशनल बैंक")
	fmt.Println(s.Kind, show(s.Amount), show(s.AccountTail), show(s.Date), show(s.Bank))
	// Output: credit 100000.00 1234 2024-04-05 PNB
}

// Money that left the account is a debit, even when the text also says
// "credited": the credit is to someone else's account.
func ExampleParseSMS_debit() {
	s := flows.ParseSMS("A/c XX1234 debited by Rs.500.00 on 12-03-24 and credited to VPA shop@ybl (UPI Ref 407212345111) -SBI")
	fmt.Println(s.Kind, show(s.Amount), show(s.Counterparty))
	fmt.Println(s.Reason)
	// Output:
	// debit 500.00 shop@ybl
	// money was sent, not received
}

// Anything that is not a completed payment comes back as "none", with a
// reason to show instead of recording a donation.
func ExampleParseSMS_none() {
	for _, text := range []string{
		"OTP is 902114 for txn of INR 1,800.00 at CITY MEDICOS on ICICI Bank Card XX4455. Do not share OTP.",
		"Dear Customer, Rs.450.00 credited to your A/c XX1234 on 12-03-24 as reversal of failed UPI transaction. UPI Ref 407212345678 -SBI",
		"You have received a UPI collect request of INR 1,000.00 from rahul.s@okhdfcbank. Approve only if you want to pay. Axis Bank",
		"Pre-approved loan of Rs 3,00,000 ready for you! Apply now.",
	} {
		s := flows.ParseSMS(text)
		fmt.Println(s.Kind+":", s.Reason)
	}
	// Output:
	// none: this is a one-time password
	// none: the transaction failed
	// none: this is a request for money, not a payment
	// none: this is a promotion or offer
}

func ExampleAmountInWords() {
	for _, a := range []string{"1100.00", "150000.50", "12500000"} {
		w, err := flows.AmountInWords(a)
		fmt.Println(w, err)
	}
	_, err := flows.AmountInWords("0.00")
	fmt.Println(err)
	// Output:
	// Rupees One Thousand One Hundred Only <nil>
	// Rupees One Lakh Fifty Thousand and Fifty Paise Only <nil>
	// Rupees One Crore Twenty Five Lakh Only <nil>
	// amount "0.00" is zero
}

func ExampleValidPAN() {
	for _, in := range []string{" abcde1234f ", "ABCDE12345"} {
		pan, ok := flows.ValidPAN(in)
		fmt.Printf("%q %v\n", pan, ok)
	}
	// Output:
	// "ABCDE1234F" true
	// "" false
}
