using Xunit.Abstractions;

namespace Forklift.Simulation.Tests.Differential;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class DifferentialSpecs(ITestOutputHelper output)
{
    [LinuxRootFact]
    public void Smoke()
    {
        var o = DifferentialRun.Run("""
            init: fork -> a expect 2
            a: getpid expect 2
            a: getppid expect 1
            a: fork -> b
            init: wait4 -1 WNOHANG expect 0
            a: exit 3
            check b parent init
            init: wait4 $a 0 expect $a
            b: kill $b SIGKILL
            init: wait4 -1 0
            init: wait4 -1 0 expect ECHILD
            """);
        output.WriteLine(o.Report);
        Assert.True(o.Agreed, o.Report);
    }
}
