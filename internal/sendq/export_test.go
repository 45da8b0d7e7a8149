package sendq

// Slots returns the allocated slots of the normal and priority lanes.
func (q *Queue[T]) Slots() (normal, prio int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.normal.slots(), q.prio.slots()
}
