package bot

// moneyCommands are the treasurers': donations and receipts.
func (h *handling) moneyCommands() []command {
	return nil
}
