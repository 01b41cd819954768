using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

public sealed partial class Vm
{
    /// <summary>The helpers of the running QEMU: a virtiofsd per virtiofs share, an swtpm per emulated TPM.</summary>
    private readonly List<ProcessWatch> _helpers = [];

    public const string DefaultVirtiofsd = "/usr/lib/qemu/virtiofsd";

    /// <summary>
    /// One virtiofsd per share, started before QEMU: the daemon makes the vhost-user socket and
    /// hands virtiofsd the listening fd (--fd), so QEMU can connect at once. virtiofsd ends by
    /// itself when QEMU closes the connection; one still there after QEMU is ended by PID.
    /// </summary>
    private void StartVirtiofsd(DomainDef live, string channelDir, string logPath)
    {
        foreach (var fs in live.Devices.Filesystems.Where(f => f.DriverType == "virtiofs"))
        {
            Directory.CreateDirectory(channelDir);
            var sock = QemuArgv.VirtiofsSocket(channelDir, fs.Alias!);
            File.Delete(sock);
            var fd = UnixListener.Create(sock);
            try
            {
                GiveSocketToQemu(sock);
                var argv = new List<string>
                {
                    fs.BinaryPath ?? DefaultVirtiofsd, $"--fd={fd}", "-o", $"source={fs.Source}", "-o", "cache=auto",
                    "-o", "xattr", "-o", "announce_submounts", "--thread-pool-size=4",
                };
                var pid = Spawner.Spawn(argv, logPath, [fd]);
                _helpers.Add(ProcessWatch.Start(pid, ownChild: true)!);
            }
            catch (Exception e) when (e is CommandException or IOException)
            {
                StopHelpers();
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot start virtiofsd for share '{fs.Target}': {e.Message}");
            }
            finally { UnixListener.Close(fd); }
        }
    }

    /// <summary>Ends the helpers still running (each ends by itself when QEMU goes; this is for a failed start).</summary>
    private void StopHelpers()
    {
        foreach (var w in _helpers)
        {
            if (!w.Exited.IsCompleted) ProcessWatch.Signal(w.Pid, 15);
            w.Dispose();
        }
        _helpers.Clear();
    }
}
