// RecentSet: a set that keeps its `max` most recently added members (the oldest go first).
export class RecentSet<T> {
  private readonly members = new Set<T>();

  constructor(private readonly max: number) {}

  add(member: T): void {
    this.members.delete(member);
    this.members.add(member);
    if (this.members.size > this.max) this.members.delete(this.members.values().next().value as T);
  }

  has(member: T): boolean {
    return this.members.has(member);
  }

  /** true if it was a member */
  delete(member: T): boolean {
    return this.members.delete(member);
  }
}
