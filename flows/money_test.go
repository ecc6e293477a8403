package flows

import "testing"

func TestAmountInWords(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"1100.00", "Rupees One Thousand One Hundred Only"},
		{"150000.50", "Rupees One Lakh Fifty Thousand and Fifty Paise Only"},
		{"1.00", "Rupees One Only"},
		{"7", "Rupees Seven Only"},
		{"19.05", "Rupees Nineteen and Five Paise Only"},
		{"20", "Rupees Twenty Only"},
		{"99.99", "Rupees Ninety Nine and Ninety Nine Paise Only"},
		{"100", "Rupees One Hundred Only"},
		{"101", "Rupees One Hundred One Only"},
		{"1000", "Rupees One Thousand Only"},
		{"10001", "Rupees Ten Thousand One Only"},
		{"99999", "Rupees Ninety Nine Thousand Nine Hundred Ninety Nine Only"},
		{"100000", "Rupees One Lakh Only"},
		{"1,00,000", "Rupees One Lakh Only"},
		{"250,000.5", "Rupees Two Lakh Fifty Thousand and Fifty Paise Only"},
		{"2500000", "Rupees Twenty Five Lakh Only"},
		{"10000000", "Rupees One Crore Only"},
		{"12345678.90", "Rupees One Crore Twenty Three Lakh Forty Five Thousand Six Hundred Seventy Eight and Ninety Paise Only"},
		{"1000000000", "Rupees One Hundred Crore Only"},
		{"12000000000", "Rupees One Thousand Two Hundred Crore Only"},
		{"9999999999999", "Rupees Nine Lakh Ninety Nine Thousand Nine Hundred Ninety Nine Crore Ninety Nine Lakh Ninety Nine Thousand Nine Hundred Ninety Nine Only"},
		{"0.50", "Fifty Paise Only"},
		{" 500.00 ", "Rupees Five Hundred Only"},
		{"6000.000", "Rupees Six Thousand Only"},
	} {
		got, err := AmountInWords(c.in)
		if err != nil || got != c.want {
			t.Errorf("AmountInWords(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestAmountInWordsRejects(t *testing.T) {
	for _, in := range []string{
		"", " ", "0", "0.00", "-5", "+5", "abc", "12a", "Rs 500", "₹500", "1.234", "1,0,0", "12,34",
		"1.2.3", "10000000000000", "NaN", "1e5", "١٢٣",
	} {
		if got, err := AmountInWords(in); err == nil {
			t.Errorf("AmountInWords(%q) = %q; want an error", in, got)
		}
	}
}

func TestValidPAN(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"ABCDE1234F", "ABCDE1234F", true},
		{"abcde1234f", "ABCDE1234F", true},
		{"  AAAPL1234C \n", "AAAPL1234C", true},
		{"AAAAA9999A", "AAAAA9999A", true},
		{"", "", false},
		{"ABCDE1234", "", false},
		{"ABCDE12345F", "", false},
		{"ABCD11234F", "", false},
		{"ABCDE1234 ", "", false},
		{"ABCDE 1234F", "", false},
		{"ABCDE12F4F", "", false},
		{"ABCDE12341", "", false},
		{"1BCDE1234F", "", false},
		{"ABCDÉ1234F", "", false},
		{"ＡBCDE1234F", "", false},
		{"ABCDE१२३४F", "", false},
	} {
		got, ok := ValidPAN(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ValidPAN(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
