using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

public sealed partial class Vm
{
    /// <summary>The virtiofsd serving each virtiofs share of the running QEMU.</summary>
    private readonly List<ProcessWatch> _virtiofsd = [];

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
                var argv = new List<string>
                {
                    fs.BinaryPath ?? DefaultVirtiofsd, $"--fd={fd}", "-o", $"source={fs.Source}", "-o", "cache=auto",
                    "-o", "xattr", "-o", "announce_submounts", "--thread-pool-size=4",
                };
                var pid = Spawner.Spawn(argv, logPath, [fd]);
                _virtiofsd.Add(ProcessWatch.Start(pid, ownChild: true)!);
            }
            catch (CommandException e)
            {
                StopVirtiofsd();
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot start virtiofsd for share '{fs.Target}': {e.Message}");
            }
            finally { UnixListener.Close(fd); }
        }
    }

    private void StopVirtiofsd()
    {
        foreach (var w in _virtiofsd)
        {
            if (!w.Exited.IsCompleted) ProcessWatch.Signal(w.Pid, 15);
            w.Dispose();
        }
        _virtiofsd.Clear();
    }
}
