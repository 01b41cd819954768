using Microsoft.AspNetCore.Http;
using Vireo.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Vireo.Web;

/// <summary>
/// The create wizard's form, in virt-manager's spirit (install media or import, OS, memory and
/// CPUs, disk size, network, cloud-init), turned into the same virt-install options `vireo
/// install` takes, so <see cref="InstallBuilder"/> and the engine's Installer do the work.
/// </summary>
public sealed class NewMachineForm
{
    public string Name { get; set; } = "";
    public string Os { get; set; } = "generic";
    public string Source { get; set; } = "cdrom";     // cdrom | import | kernel
    public string Iso { get; set; } = "";
    public string ImportVolume { get; set; } = "";
    public string Kernel { get; set; } = "";
    public string Initrd { get; set; } = "";
    public string KernelArgs { get; set; } = "";
    public string MemoryMiB { get; set; } = "1024";
    public string Vcpus { get; set; } = "1";
    public string DiskGiB { get; set; } = "10";
    public string Network { get; set; } = "user";
    public string Graphics { get; set; } = "none";
    public string GraphicsListen { get; set; } = "127.0.0.1";
    public string UserData { get; set; } = "";
    public bool Start { get; set; } = true;

    public static NewMachineForm Read(IFormCollection f) => new()
    {
        Name = f["name"].ToString().Trim(), Os = f["os"].ToString(), Source = f["source"].ToString(), Iso = f["iso"].ToString().Trim(),
        ImportVolume = f["import"].ToString(), Kernel = f["kernel"].ToString().Trim(), Initrd = f["initrd"].ToString().Trim(), KernelArgs = f["kernel_args"].ToString().Trim(),
        MemoryMiB = f["memory"].ToString().Trim(), Vcpus = f["vcpus"].ToString().Trim(), DiskGiB = f["disk"].ToString().Trim(), Network = f["network"].ToString(),
        Graphics = f["graphics"].ToString(), GraphicsListen = f["graphics_listen"].ToString().Trim(), UserData = f["user_data"].ToString().Replace("\r\n", "\n"), Start = f["start"] == "on",
    };

    /// <summary>virt-install's options for this form.</summary>
    public InstallOptions Options()
    {
        var o = new InstallOptions
        {
            Name = Name, OsVariant = Os, Memory = MemoryMiB, Vcpus = Vcpus, Graphics = Graphics == "vnc" ? $"vnc,listen={GraphicsListen}" : "none",
            Networks = [Network switch { "none" => "none", "user" => "user", var n => $"network={n}" }],
            CloudInit = UserData.Trim().Length > 0 ? "user-data=form" : null,
        };
        switch (Source)
        {
            case "cdrom": o.Cdrom = Iso; break;
            case "import": o.Import = true; o.Disks.Add($"vol={ImportVolume}"); break;
            case "kernel":
                o.Import = true;
                o.Boot = $"kernel={Kernel},initrd={Initrd}" + (KernelArgs.Length > 0 ? $",kernel_args={KernelArgs}" : "");
                break;
        }
        if (DiskGiB is { Length: > 0 } size && size != "0") o.Disks.Add($"pool=default,size={size}");
        return o;
    }

    /// <summary>Problems with the form itself (before the options are built): a VNC listen address, user-data that is cloud-config YAML.</summary>
    public IEnumerable<(string Field, string Message)> Check()
    {
        if (Graphics == "vnc" && MachineEdits.ListenProblem(GraphicsListen) is { } problem) yield return ("graphics", problem);
        foreach (var p in CheckUserData()) yield return p;
    }

    /// <summary>The user-data must be cloud-config YAML (checked as it is typed, and again on submit).</summary>
    public IEnumerable<(string Field, string Message)> CheckUserData()
    {
        if (UserData.Trim().Length == 0) yield break;
        if (!UserData.TrimStart().StartsWith("#cloud-config", StringComparison.Ordinal))
            yield return ("user_data", "User data must start with the line #cloud-config (cloud-init ignores it otherwise).");
        string? yamlError = null;
        try { new YamlStream().Load(new StringReader(UserData)); }
        catch (YamlException e)
        {
            var why = e.Message;
            var cut = why.LastIndexOf("): ", StringComparison.Ordinal);
            if (cut >= 0) why = why[(cut + 3)..];
            yamlError = $"User data is not valid YAML (line {e.Start.Line}, column {e.Start.Column}): {why.TrimEnd('.')}.";
        }
        if (yamlError is not null) yield return ("user_data", yamlError);
    }

    /// <summary>Which field a builder message is about (they name the option they came from).</summary>
    public static string FieldOf(string message) => message switch
    {
        _ when message.StartsWith("--name") || message.StartsWith("Domain name") || message.StartsWith("Domain '") => "name",
        _ when message.StartsWith("--memory") => "memory",
        _ when message.StartsWith("--vcpus") => "vcpus",
        _ when message.StartsWith("--os-variant") || message.StartsWith("Unknown --os-variant") => "os",
        _ when message.StartsWith("--disk size") => "disk",
        _ when message.StartsWith("--disk vol") || message.StartsWith("Storage volume") => "import",
        _ when message.StartsWith("--cdrom") => "iso",
        _ when message.StartsWith("--boot") || message.StartsWith("The kernel") || message.StartsWith("The initrd") => "kernel",
        _ when message.StartsWith("--network") || message.Contains("network '") => "network",
        _ when message.StartsWith("--graphics") => "graphics",
        _ when message.StartsWith("Say how the guest installs") => "source",
        _ => "",
    };
}
