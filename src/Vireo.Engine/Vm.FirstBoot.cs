using Vireo.Model;

namespace Vireo.Engine;

public sealed partial class Vm
{
    /// <summary>
    /// After the QEMU that ran an install's first run ended: drops the first-run media from the
    /// persistent definition (see <see cref="FirstBoot"/>), deletes what was made for that run,
    /// and says whether the domain should start again (the installer rebooted).
    /// </summary>
    private bool FinishFirstBoot(DomainDef live, bool guestRebooted)
    {
        if (FirstBoot.Read(live) is null) return false;
        DomainDef def;
        lock (_state)
        {
            if (!Persistent) return false;
            def = Def;
        }
        // The persistent definition's own record decides (it may have been redefined since).
        if (FirstBoot.Read(def) is not { } plan) return false;
        try
        {
            _hv.Define(DomainXml.Write(plan.After(def)));
        }
        catch (Exception e)
        {
            Log.FirstBootFailed(_log, e, Name);
            return false;
        }
        var done = new List<string>();
        foreach (var (target, delete) in plan.Detach)
        {
            var disk = def.Devices.Disks.FirstOrDefault(x => x.TargetDev == target);
            if (disk is null) continue;
            done.Add($"detached {target}");
            // Only volumes are deleted (the seed Vireo made); a file the user named stays.
            if (delete && disk is { Type: "volume", SourcePool: { } pool, SourceVolume: { } vol })
                _ = DeleteQuietlyAsync(pool, vol);
        }
        if (plan.DirectBoot)
        {
            done.Add("kernel boot removed");
            if (plan.DeleteKernel)
            {
                // Only what the daemon extracted into its own boot directory.
                var dir = _o.BootDir(Name);
                try
                {
                    foreach (var f in new[] { def.Os.Kernel, def.Os.Initrd })
                        if (f is not null && Path.GetDirectoryName(Path.GetFullPath(f)) == dir) File.Delete(f);
                    if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir);
                }
                catch (IOException e) { Log.FirstBootFailed(_log, e, Name); }
            }
        }
        bool restart = plan.RestartOnReboot && guestRebooted;
        if (restart) done.Add("starting again from disk");
        Log.FirstBootDone(_log, Name, string.Join(", ", done));
        return restart;
    }

    private async Task DeleteQuietlyAsync(string pool, string vol)
    {
        try { await _hv.Storage.DeleteAsync(pool, vol, force: false, CancellationToken.None); }
        catch (Exception e) { Log.FirstBootFailed(_log, e, Name); }
    }

    private async Task RestartAfterInstallAsync()
    {
        try { await StartAsync(paused: false); }
        catch (Exception e) { Log.FirstBootFailed(_log, e, Name); }
    }
}
