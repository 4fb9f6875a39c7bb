// RecentMap: a map that keeps its `max` most recently set entries (the oldest go first).
export class RecentMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly max: number) {}

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as K);
  }

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** true if it was there */
  delete(key: K): boolean {
    return this.entries.delete(key);
  }
}
