using System.Collections.Concurrent;

namespace Vireo.Web;

/// <summary>
/// Failed logins per client address: after <see cref="Allowed"/> wrong ones within
/// <see cref="Window"/>, that address is refused until the window has passed since its first
/// failure. A right login clears the count. (Behind a reverse proxy on the unix socket every
/// client is one address: the proxy should throttle per client itself.)
/// </summary>
public sealed class LoginThrottle(TimeProvider time)
{
    public const int Allowed = 5;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (int Count, DateTimeOffset First)> _failures = new();

    /// <summary>How long this client must wait, or null when it may try.</summary>
    public TimeSpan? Refused(string client)
    {
        if (!_failures.TryGetValue(client, out var f)) return null;
        var left = f.First + Window - time.GetUtcNow();
        if (left <= TimeSpan.Zero) { _failures.TryRemove(client, out _); return null; }
        return f.Count >= Allowed ? left : null;
    }

    public void Failed(string client)
    {
        var now = time.GetUtcNow();
        _failures.AddOrUpdate(client, _ => (1, now), (_, f) => f.First + Window < now ? (1, now) : (f.Count + 1, f.First));
        // A flood of distinct addresses must not grow this without bound.
        if (_failures.Count > 10_000)
            foreach (var (k, v) in _failures)
                if (v.First + Window < now) _failures.TryRemove(k, out _);
    }

    public void Succeeded(string client) => _failures.TryRemove(client, out _);
}
