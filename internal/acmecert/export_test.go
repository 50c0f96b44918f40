package acmecert

// Due exposes due to the tests: whether Run would renew now.
func (m *Manager) Due() bool { return m.due() }
