using Vireo.Engine;

namespace Vireo.Web;

/// <summary>One look at a machine: CPU use (% of one host CPU), QEMU's resident memory, and disk and NIC throughput (bytes/s).</summary>
public sealed record ResourceSample(DateTimeOffset At, double CpuPercent, double RssBytes, double ReadBps, double WriteBps, double RxBps, double TxBps);

/// <summary>
/// The last hour of every running machine's figures, sampled by the daemon every 5 s (720
/// points each): CPU time and RSS from /proc, disk bytes from QMP's query-blockstats, NIC bytes
/// from the taps' counters. The machine pages draw them; nothing is kept across restarts.
/// </summary>
public sealed class ResourceHistory : IAsyncDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private const int Keep = 720;
    private readonly Hypervisor _hv;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, (Queue<ResourceSample> Samples, Raw? Last)> _data = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private sealed record Raw(long At, double Cpu, double Read, double Write, double Rx, double Tx, int? Pid);

    public ResourceHistory(Hypervisor hv, TimeProvider time)
    {
        _hv = hv;
        _time = time;
        _loop = Task.Run(LoopAsync);
    }

    public IReadOnlyList<ResourceSample> Of(string name)
    {
        lock (_lock) return _data.TryGetValue(name, out var d) ? d.Samples.ToList() : [];
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(Interval, _time);
        try
        {
            do
            {
                foreach (var vm in _hv.All())
                {
                    try { await SampleAsync(vm); }
                    catch (Exception e) when (e is VireoException or IOException or TimeoutException or Vireo.Qemu.QmpDisconnectedException or Vireo.Qemu.QmpErrorException) { }
                }
                lock (_lock)
                    foreach (var gone in _data.Keys.Where(k => !_hv.All().Any(v => v.Name == k)).ToList()) _data.Remove(gone);
            }
            while (await timer.WaitForNextTickAsync(_stop.Token));
        }
        catch (OperationCanceledException) { }
    }

    private async Task SampleAsync(Vm vm)
    {
        var s = vm.Summary();
        if (!vm.IsActive || s.Pid is null)
        {
            lock (_lock) if (_data.TryGetValue(s.Name, out var d)) _data[s.Name] = (d.Samples, null);
            return;
        }
        double read = 0, write = 0, rx = 0, tx = 0;
        foreach (var (_, st) in await vm.BlockStatsAsync(_stop.Token))
        {
            read += (double?)st["rd_bytes"] ?? 0;
            write += (double?)st["wr_bytes"] ?? 0;
        }
        foreach (var tap in (vm.Live?.Devices.Interfaces ?? []).Select(i => i.TargetDev).OfType<string>())
        {
            try
            {
                var st = vm.InterfaceStats(tap);
                rx += st.RxBytes;
                tx += st.TxBytes;
            }
            catch (VireoException) { } // stopped meanwhile
        }
        var now = _time.GetTimestamp();
        var raw = new Raw(now, s.CpuTimeSeconds, read, write, rx, tx, s.Pid);
        var rss = (Vireo.Host.ProcessWatch.RssKiB(s.Pid.Value) ?? 0) * 1024.0;
        lock (_lock)
        {
            if (!_data.TryGetValue(s.Name, out var d)) d = (new Queue<ResourceSample>(), null);
            // A new QEMU (another pid) starts its counters again: no rate across it.
            if (d.Last is { } last && last.Pid == raw.Pid)
            {
                var secs = _time.GetElapsedTime(last.At, now).TotalSeconds;
                double Rate(double a, double b) => secs > 0 ? Math.Max(0, (a - b) / secs) : 0;
                d.Samples.Enqueue(new ResourceSample(_time.GetUtcNow(), Rate(raw.Cpu, last.Cpu) * 100, rss,
                    Rate(raw.Read, last.Read), Rate(raw.Write, last.Write), Rate(raw.Rx, last.Rx), Rate(raw.Tx, last.Tx)));
                while (d.Samples.Count > Keep) d.Samples.Dequeue();
            }
            _data[s.Name] = (d.Samples, raw);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
