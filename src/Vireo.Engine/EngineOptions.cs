namespace Vireo.Engine;

public sealed record EngineOptions
{
    /// <summary>Persistent definitions: {ConfigDir}/qemu/NAME.xml, {ConfigDir}/qemu/autostart/NAME.xml.</summary>
    public required string ConfigDir { get; init; }
    /// <summary>Runtime state: {RunDir}/qemu/NAME.xml (status), NAME.monitor (QMP), NAME.log (QEMU output).</summary>
    public required string RunDir { get; init; }
    public string DefaultEmulator { get; init; } = "/usr/bin/qemu-system-x86_64";
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public string DomainConfigDir => Path.Combine(ConfigDir, "qemu");
    public string AutostartDir => Path.Combine(ConfigDir, "qemu", "autostart");
    public string DomainRunDir => Path.Combine(RunDir, "qemu");
    public string ConfigFile(string name) => Path.Combine(DomainConfigDir, name + ".xml");
    public string AutostartLink(string name) => Path.Combine(AutostartDir, name + ".xml");
    public string StatusFile(string name) => Path.Combine(DomainRunDir, name + ".xml");
    public string MonitorSocket(string name) => Path.Combine(DomainRunDir, name + ".monitor");
    public string PidFile(string name) => Path.Combine(DomainRunDir, name + ".pid");
    public string LogFile(string name) => Path.Combine(DomainRunDir, name + ".log");
    /// <summary>What a confined guest's start gave its QEMU user, to hand back at stop (DacLabels).</summary>
    public string DacRecord(string name) => Path.Combine(DomainRunDir, name + ".dac");
    /// <summary>The unprivileged user guests' QEMUs run as (--qemu-user), or null: root, as before confinement.</summary>
    public Vireo.Host.QemuUser? QemuUser { get; init; }
    /// <summary>nftables table (family inet) holding every rule Vireo makes.</summary>
    public string FirewallTable { get; init; } = "vireo";
    public string NetworkConfigDir => Path.Combine(ConfigDir, "network");
    public string NetworkAutostartDir => Path.Combine(ConfigDir, "network", "autostart");
    public string NetworkRunDir => Path.Combine(RunDir, "network");
    public string NetworkConfigFile(string name) => Path.Combine(NetworkConfigDir, name + ".xml");
    public string NetworkAutostartLink(string name) => Path.Combine(NetworkAutostartDir, name + ".xml");
    public string NetworkStatusFile(string name) => Path.Combine(NetworkRunDir, name + ".xml");
    public string ChannelDir(string name) => Path.Combine(DomainRunDir, "channel", name);
    /// <summary>Images and saved state: {DataDir}/images is the default pool, {DataDir}/save holds managed saves.</summary>
    public string DataDir { get; init; } = "/var/lib/vireo";
    public string DefaultPoolPath => Path.Combine(DataDir, "images");
    /// <summary>An installer's kernel and initrd taken out of --location's ISO or tree, for the first run only.</summary>
    public string BootDir(string name) => Path.Combine(DataDir, "boot", name);
    /// <summary>UEFI variable stores: {DataDir}/nvram/NAME_VARS.fd (libvirt: /var/lib/libvirt/qemu/nvram).</summary>
    public string NvramDir => Path.Combine(DataDir, "nvram");
    /// <summary>Emulated TPM state: {DataDir}/swtpm/UUID/tpm2 (libvirt: /var/lib/libvirt/swtpm/UUID/tpm2).</summary>
    public string TpmDir(Guid uuid) => Path.Combine(DataDir, "swtpm", uuid.ToString());
    public string ManagedSaveFile(string name) => Path.Combine(DataDir, "save", name + ".save");
    public string StorageConfigDir => Path.Combine(ConfigDir, "storage");
    public string StorageAutostartDir => Path.Combine(ConfigDir, "storage", "autostart");
    public string StorageRunDir => Path.Combine(RunDir, "storage");
    public string PoolConfigFile(string name) => Path.Combine(StorageConfigDir, name + ".xml");
    public string PoolAutostartLink(string name) => Path.Combine(StorageAutostartDir, name + ".xml");
    public string PoolStatusFile(string name) => Path.Combine(StorageRunDir, name + ".xml");
    public string SnapshotDir(string domain) => Path.Combine(DomainConfigDir, "snapshot", domain);
}
