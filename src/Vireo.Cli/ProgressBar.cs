using Vireo.Model;
using System.Diagnostics;
using System.Globalization;

namespace Vireo.Cli;

/// <summary>
/// A progress bar on stderr for long work (copies, uploads, downloads, block jobs), drawn only
/// when stderr is a terminal; either way the end prints one summary line.
/// </summary>
public sealed class ProgressBar(string label)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _draw = !Console.IsErrorRedirected;
    private long _lastDraw = -1;
    private int _lastPercent = -1;

    /// <summary>Percent done, with an optional byte figure beside it.</summary>
    public void Report(double percent, long? bytes = null)
    {
        if (!_draw) return;
        var pct = (int)Math.Clamp(percent, 0, 100);
        var now = _clock.ElapsedMilliseconds;
        if (pct == _lastPercent && now - _lastDraw < 250) return;
        _lastPercent = pct;
        _lastDraw = now;
        const int width = 30;
        var filled = pct * width / 100;
        var bar = new string('=', filled) + (filled < width ? ">" + new string(' ', width - filled - 1) : "");
        Console.Error.Write($"\r{label} [{bar}] {pct,3}%{(bytes is { } b ? "  " + Units.Bytes(b) : "")}   ");
    }

    public void Done(long? bytes = null)
    {
        if (_draw) Console.Error.Write("\r" + new string(' ', label.Length + 60) + "\r");
        var secs = _clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        Console.Error.WriteLine(bytes is { } b ? $"{label}: {Units.Bytes(b)} in {secs} s" : $"{label}: done in {secs} s");
    }
}
