using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Tests.Transport.Linux;

public sealed class EpollRegistrationTableTests
{
    [Fact]
    public void Added_IsFoundByItsId_UntilRemoved()
    {
        var table = new EpollRegistrationTable();
        var first = new Target();
        var second = new Target();

        ulong firstId = table.Add(first);
        ulong secondId = table.Add(second);

        Assert.NotEqual(firstId, secondId);
        Assert.NotEqual(0UL, firstId);
        Assert.Same(first, table.Find(firstId));
        Assert.Same(second, table.Find(secondId));
        Assert.Equal(2, table.Count);

        Assert.True(table.Remove(firstId, out IEpollEventTarget? removed));
        Assert.Same(first, removed);
        Assert.Null(table.Find(firstId));
        Assert.False(table.Remove(firstId));
        Assert.Same(second, table.Find(secondId));
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void ASlotReused_HasANewId_AndTheOldIdReachesNeitherRegistration()
    {
        var table = new EpollRegistrationTable();
        var old = new Target();
        ulong oldId = table.Add(old);
        Assert.True(table.Remove(oldId));

        // The free slot is taken again: an event fetched for the old registration must not reach the new one.
        var reused = new Target();
        ulong newId = table.Add(reused);

        Assert.Equal((uint)oldId, (uint)newId);
        Assert.NotEqual(oldId, newId);
        Assert.Null(table.Find(oldId));
        Assert.False(table.Remove(oldId));
        Assert.Same(reused, table.Find(newId));
    }

    [Fact]
    public void AReservedSlot_IsFoundOnlyOncePublished()
    {
        var table = new EpollRegistrationTable();
        ulong id = table.Add(null);
        Assert.Null(table.Find(id));

        var target = new Target();
        table.Publish(id, target);

        Assert.Same(target, table.Find(id));
    }

    [Fact]
    public void ManyMoreThanTheFirstArray_AllFound_AndRemoveAllReturnsEachOnce()
    {
        var table = new EpollRegistrationTable();
        var targets = new Target[1_000];
        var ids = new ulong[targets.Length];
        for (int i = 0; i < targets.Length; i++)
        {
            targets[i] = new Target();
            ids[i] = table.Add(targets[i]);
        }

        Assert.Equal(targets.Length, ids.Distinct().Count());
        for (int i = 0; i < targets.Length; i++)
        {
            Assert.Same(targets[i], table.Find(ids[i]));
        }

        List<IEpollEventTarget> removed = table.RemoveAll();

        Assert.Equal(targets.Length, removed.Count);
        Assert.Equal(targets.Length, removed.Distinct().Count());
        Assert.Equal(0, table.Count);
        Assert.All(ids, id => Assert.Null(table.Find(id)));

        // The table goes on after a RemoveAll.
        var later = new Target();
        ulong laterId = table.Add(later);
        Assert.Same(later, table.Find(laterId));
        Assert.DoesNotContain(laterId, ids);
    }

    private sealed class Target : IEpollEventTarget
    {
        public void OnEvents(uint events, Span<byte> scratch)
        {
        }

        public void OnRemovedAfterFault()
        {
        }
    }
}
