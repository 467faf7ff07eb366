using System.Collections.Concurrent;

namespace Forklift.Processes;

/// <summary>
/// The dedicated, long-lived thread that creates children with a parent-death signal. PR_SET_PDEATHSIG fires when
/// the child's parent *thread* exits, not its process (prctl(2): "the parent" is the thread that created the
/// child), so a child created from a thread-pool thread would be killed whenever the pool retires that thread.
/// This thread never exits before the process does. Callers block until their work is done.
/// </summary>
internal static class SpawnerThread
{
    private static readonly BlockingCollection<WorkItem> s_queue = [];
    private static readonly Lazy<Thread> s_thread = new(() =>
    {
        var thread = new Thread(Loop) { IsBackground = true, Name = "Forklift spawner (parent-death signal)" };
        thread.UnsafeStart();
        return thread;
    });

    /// <summary>The managed id of the thread (for tests).</summary>
    public static int ManagedThreadId => s_thread.Value.ManagedThreadId;

    /// <summary>Runs <paramref name="work"/> on the spawner thread and returns its result (or rethrows its exception).</summary>
    public static T Run<T>(Func<T> work)
    {
        _ = s_thread.Value;
        if (Environment.CurrentManagedThreadId == s_thread.Value.ManagedThreadId)
            return work();
        T result = default!;
        using var item = new WorkItem(() => result = work());
        s_queue.Add(item);
        item.Done.Wait();
        item.Error?.Throw();
        return result;
    }

    private static void Loop()
    {
        foreach (var item in s_queue.GetConsumingEnumerable())
        {
            try
            {
                item.Work();
            }
            catch (Exception e)
            {
                item.Error = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            }
            item.Done.Set();
        }
    }

    private sealed class WorkItem(Action work) : IDisposable
    {
        public Action Work { get; } = work;
        public ManualResetEventSlim Done { get; } = new();
        public System.Runtime.ExceptionServices.ExceptionDispatchInfo? Error { get; set; }
        public void Dispose() => Done.Dispose();
    }
}
