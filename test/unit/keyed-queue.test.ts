import { describe, expect, it } from 'vitest';
import { KeyedQueue } from '../../kernel/keyed-queue.ts';

describe('KeyedQueue', () => {
  it('runs one key’s tasks one at a time, in order, and other keys beside them', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    let releaseFirst!: () => void;
    const first = queue.run('a', async () => {
      log.push('a1 start');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      log.push('a1 end');
    });
    const second = queue.run('a', async () => void log.push('a2'));
    await queue.run('b', async () => void log.push('b1'));
    expect(log).toEqual(['a1 start', 'b1']);
    releaseFirst();
    await Promise.all([first, second]);
    expect(log).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });

  it('a failing task fails its caller alone; the next one of its key still runs', async () => {
    const queue = new KeyedQueue();
    const failed = queue.run('a', () => Promise.reject(new Error('chat down')));
    const next = queue.run('a', async () => 'ran');
    await expect(failed).rejects.toThrow('chat down');
    await expect(next).resolves.toBe('ran');
  });

  it('forgets a key once its work is done', async () => {
    const queue = new KeyedQueue();
    await Promise.all([queue.run('a', async () => 1), queue.run('b', async () => 2)]);
    await Promise.resolve();
    expect(queue.size).toBe(0);
  });
});
