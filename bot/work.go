package bot

// workCommands are the volunteers': taking, holding and finishing tasks.
func (h *handling) workCommands() []command {
	return nil
}

// workJobs expire leases and time out offers.
func (r *Runtime) workJobs() []job {
	return nil
}
