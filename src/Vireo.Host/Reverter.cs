namespace Vireo.Host;

/// <summary>
/// The undo of a multi-step host change, as Incus' <c>revert</c> package: each step that changes
/// the host registers how to take itself back; on success the caller commits and nothing is
/// undone; if anything throws before that, disposal undoes every registered step, the last first.
/// One undo that fails does not stop the others, and never hides the error that started the
/// revert: it is handed to <c>onUndoFailed</c> (a log line).
/// </summary>
/// <example>
/// await using var revert = new Reverter(e => Log.UndoFailed(log, e));
/// var tap = CreateTap(); revert.Add(() => DeleteTap(tap));
/// StartQemu(tap);
/// revert.Commit();
/// </example>
public sealed class Reverter(Action<Exception>? onUndoFailed = null) : IAsyncDisposable
{
    private readonly List<Func<ValueTask>> _undo = [];
    private bool _done;

    public void Add(Action undo) => _undo.Add(() => { undo(); return ValueTask.CompletedTask; });

    public void Add(Func<Task> undo) => _undo.Add(() => new ValueTask(undo()));

    /// <summary>Keeps every step registered so far (the change, or a part of it, is complete); steps added later are undone as before.</summary>
    public void Commit() => _undo.Clear();

    /// <summary>Undoes the registered steps now (last first), once; disposal then does nothing.</summary>
    public async ValueTask RevertAsync()
    {
        if (_done) return;
        _done = true;
        for (var i = _undo.Count - 1; i >= 0; i--)
        {
            try { await _undo[i](); }
            catch (Exception e) { onUndoFailed?.Invoke(e); }
        }
        _undo.Clear();
    }

    public ValueTask DisposeAsync() => RevertAsync();
}
