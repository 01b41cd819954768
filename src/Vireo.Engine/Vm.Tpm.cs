using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

public sealed partial class Vm
{
    public const string Swtpm = "/usr/bin/swtpm";
    public const string SwtpmSetup = "/usr/bin/swtpm_setup";

    /// <summary>Where an emulated TPM keeps its state: kept across starts, removed with undefine unless asked to keep it.</summary>
    private string TpmStateDir(DomainDef d, TpmDef t) => Path.Combine(_o.TpmDir(d.Uuid), t.Version == "1.2" ? "tpm1.2" : "tpm2");

    /// <summary>
    /// One swtpm per emulated TPM, as libvirt runs it: the state is made once by swtpm_setup
    /// (endorsement key and certificates, NVRAM locked), then swtpm serves its control socket,
    /// over which QEMU hands it the data channel. The daemon binds the socket and passes the
    /// listening fd, so QEMU can connect at once; with --terminate swtpm ends when QEMU does.
    /// </summary>
    private async Task<Dictionary<string, string>> StartSwtpmAsync(DomainDef live, string channelDir, string logPath, CancellationToken ct)
    {
        var sockets = new Dictionary<string, string>();
        foreach (var t in live.Devices.Tpms.Where(t => t.BackendType == "emulator"))
        {
            var v2 = t.Version != "1.2";
            var state = TpmStateDir(live, t);
            if (!File.Exists(Path.Combine(state, v2 ? "tpm2-00.permall" : "tpm-00.permall")))
            {
                Directory.CreateDirectory(state, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                var args = new List<string>
                {
                    "--tpm-state", state, "--vmid", $"{live.Name}:{live.Uuid}", "--logfile", logPath,
                    "--createek", "--create-ek-cert", "--create-platform-cert", "--lock-nvram", "--not-overwrite",
                };
                if (v2) args.Insert(0, "--tpm2");
                var r = await Exec.RunAsync(SwtpmSetup, args, ct);
                if (r.ExitCode != 0)
                {
                    StopHelpers();
                    throw new VireoException(ErrorCode.OperationFailed,
                        $"Cannot set up the TPM state of '{Name}' ({state}): swtpm_setup failed with exit code {r.ExitCode}: {LastLine(r.Stderr + r.Stdout)} (see {logPath}).");
                }
            }
            Directory.CreateDirectory(channelDir);
            var sock = Path.Combine(channelDir, $"{t.Alias}.swtpm");
            File.Delete(sock);
            var fd = UnixListener.Create(sock);
            try
            {
                GiveSocketToQemu(sock);
                string[] argv =
                [
                    Swtpm, "socket", "--ctrl", $"type=unixio,fd={fd}", "--tpmstate", $"dir={state},mode=0600",
                    "--log", $"file={Path.Combine(_o.DomainRunDir, $"{Name}-swtpm.log")}", "--terminate", .. v2 ? new[] { "--tpm2" } : [],
                ];
                _helpers.Add(ProcessWatch.Start(Spawner.Spawn(argv, logPath, [fd]), ownChild: true)!);
            }
            catch (Exception e) when (e is CommandException or IOException)
            {
                StopHelpers();
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot start swtpm for the TPM of '{Name}': {e.Message}");
            }
            finally { UnixListener.Close(fd); }
            sockets[t.Alias!] = sock;
        }
        return sockets;
    }

    private static string LastLine(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";

    /// <summary>Whether a transient guest's TPM state stays when it stops (undefine --keep-tpm).</summary>
    internal bool KeepTpmState { get; set; }

    /// <summary>Removes the emulated TPMs' state (on undefine), unless a TPM asks to keep it (persistent_state='yes').</summary>
    internal void RemoveTpmState()
    {
        if (Def.Devices.Tpms.Any(t => t.PersistentState == "yes")) return;
        var dir = _o.TpmDir(Def.Uuid);
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
    }
}
