package flows

import (
	"fmt"
	"strconv"
	"strings"
)

// AmountInWords spells an amount the Indian way for tax receipts:
// "1100.00" -> "Rupees One Thousand One Hundred Only"; "150000.50" -> "Rupees One Lakh Fifty Thousand and Fifty Paise Only"; crore too.
//
// It takes what ParseSMS returns and also plain or grouped figures
// ("1,00,000", "250", "99.5"). It refuses zero, negative and malformed
// amounts, and fractions of a paisa, rather than print a wrong receipt.
// An amount under one rupee reads "Fifty Paise Only".
func AmountInWords(amount string) (string, error) {
	norm, ok := normaliseRupees(strings.TrimSpace(amount))
	if !ok {
		return "", fmt.Errorf("amount %q is not a rupee amount like 1100.00", amount)
	}
	whole, frac, _ := strings.Cut(norm, ".")
	rupees, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return "", fmt.Errorf("amount %q: %w", amount, err)
	}
	paise, err := strconv.ParseUint(frac, 10, 64)
	if err != nil {
		return "", fmt.Errorf("amount %q: %w", amount, err)
	}
	if rupees == 0 && paise == 0 {
		return "", fmt.Errorf("amount %q is zero", amount)
	}
	var parts []string
	if rupees > 0 {
		parts = append(parts, "Rupees", indianNumberWords(rupees))
	}
	if paise > 0 {
		if rupees > 0 {
			parts = append(parts, "and")
		}
		parts = append(parts, belowHundredWords(paise), "Paise")
	}
	return strings.Join(append(parts, "Only"), " "), nil
}

// indianNumberWords spells n > 0 in the Indian system: crore (10^7), lakh
// (10^5), thousand, hundred. Crores above 99 are themselves spelt the
// Indian way ("One Thousand Two Hundred Crore").
func indianNumberWords(n uint64) string {
	var w []string
	if crore := n / 10_000_000; crore > 0 {
		w = append(w, indianNumberWords(crore), "Crore")
	}
	rest := n % 10_000_000
	for _, unit := range []struct {
		size uint64
		name string
	}{{100_000, "Lakh"}, {1_000, "Thousand"}} {
		if k := rest / unit.size; k > 0 {
			w = append(w, belowHundredWords(k), unit.name)
		}
		rest %= unit.size
	}
	if h := rest / 100; h > 0 {
		w = append(w, belowHundredWords(h), "Hundred")
	}
	if r := rest % 100; r > 0 {
		w = append(w, belowHundredWords(r))
	}
	return strings.Join(w, " ")
}

// belowHundredWords spells 1..99.
func belowHundredWords(n uint64) string {
	small := [...]string{"Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten",
		"Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen"}
	tens := [...]string{"", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety"}
	if n < 20 {
		return small[n]
	}
	if n%10 == 0 {
		return tens[n/10]
	}
	return tens[n/10] + " " + small[n%10]
}

// ValidPAN reports whether s (after trimming spaces, upper-casing) is a PAN: 5 letters, 4 digits, 1 letter (AAAAA9999A); returns the normalised PAN.
// When s is not a PAN it returns "" and false.
func ValidPAN(s string) (string, bool) {
	p := strings.ToUpper(strings.TrimSpace(s))
	if len(p) != 10 {
		return "", false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		isLetter := 'A' <= c && c <= 'Z'
		isDigit := '0' <= c && c <= '9'
		if (i < 5 || i == 9) && !isLetter || (i >= 5 && i < 9) && !isDigit {
			return "", false
		}
	}
	return p, true
}
