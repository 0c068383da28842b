// An event a pure plan asks the controller to record; the controller adds the
// regarding object and the action.

export interface PlannedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  note: string;
  /**
   * Appended to note after ": " (why no volume fits). Computing it may walk
   * every volume, so it is a function: called only when the event is about to
   * be recorded, not on every reconcile.
   */
  explain?: () => string;
}

/** The event's full text, explanation included. */
export function eventNote(e: PlannedEvent): string {
  return e.explain ? `${e.note}: ${e.explain()}` : e.note;
}
