import time
def test_sleep(invokeai_url):
    time.sleep(120)
